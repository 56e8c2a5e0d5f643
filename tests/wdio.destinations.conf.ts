// The app started with a stored-destinations file it cannot read: it must start on its
// local folder and say why. Everything else is as in wdio.conf.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { config as base, reporters } from './wdio.conf.js';

export const config: WebdriverIO.Config = {
  ...base,
  specs: ['./e2e/destinations/**/*.spec.ts'],
  reporters: reporters('destinations'),
  exclude: [],
  onPrepare: async (...args) => {
    const prepare = base.onPrepare;
    if (typeof prepare === 'function') await prepare(...args);
    // The base preparation names the run's configuration folder; the app, started
    // after this, finds a destinations file there that is not JSON.
    const dir = process.env.FERRY_CONFIG_DIR!;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'destinations.json'), '{ "version": 1, "default": ');
  },
};
