// The specs that upload to a real tus server: the official Node server (@tus/server)
// started on 127.0.0.1 before the app, which gets its endpoint through
// FERRY_DESTINATION_URL. Everything else is as in wdio.conf.ts.
import path from 'node:path';
import { config as base, reporters } from './wdio.conf.js';
import { startTusServer, type TusServer } from './helpers/tus-server.js';

let tusServer: TusServer | undefined;

export const config: WebdriverIO.Config = {
  ...base,
  specs: ['./e2e/tus/**/*.spec.ts'],
  reporters: reporters('tus'),
  exclude: [],
  onPrepare: async (...args) => {
    // The base preparation makes the run folder and starts tauri-driver, which hands its
    // environment to the app: the tus settings must be in place before it.
    const { mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const store = mkdtempSync(path.join(os.tmpdir(), 'ferry-e2e-tus-'));
    process.env.FERRY_E2E_TUS_STORE = store;
    process.env.FERRY_E2E_TUS_LOG = path.join(store, 'requests.log');
    tusServer = await startTusServer(path.join(store, 'files'), process.env.FERRY_E2E_TUS_LOG);
    process.env.FERRY_DESTINATION_URL = tusServer.endpoint;
    // Slow enough that a pause lands in the middle of an upload.
    process.env.FERRY_BANDWIDTH_LIMIT = String(2 * 1024 * 1024);
    const prepare = base.onPrepare;
    if (typeof prepare === 'function') await prepare(...args);
  },
  onComplete: async (...args) => {
    tusServer?.process.kill('SIGTERM');
    const store = process.env.FERRY_E2E_TUS_STORE;
    if (store && !process.env.FERRY_E2E_KEEP) {
      const { rmSync } = await import('node:fs');
      rmSync(store, { recursive: true, force: true });
    }
    const complete = base.onComplete;
    if (typeof complete === 'function') return complete(...args);
  },
};
