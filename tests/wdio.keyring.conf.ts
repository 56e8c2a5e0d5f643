// The specs that keep a secret in the OS keyring: a Secret Service of their own
// (gnome-keyring-daemon, unlocked with a throwaway password, its keyring files in the
// run's temporary folder, on the run's private session bus) and a tus server that wants
// a Bearer token. The app reads its destination from the stored destinations, not from
// FERRY_DESTINATION_URL. Everything else is as in wdio.conf.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { config as base, reporters } from './wdio.conf.js';
import { startTusServer, type TusServer } from './helpers/tus-server.js';

let tusServer: TusServer | undefined;

/** Starts gnome-keyring-daemon on the session bus, its login keyring unlocked. */
function startKeyring(home: string): void {
  const data = path.join(home, 'data');
  mkdirSync(data, { recursive: true });
  const started = spawnSync('gnome-keyring-daemon', ['--unlock', '--components=secrets'], {
    input: 'ferry-e2e-keyring',
    env: { ...process.env, HOME: home, XDG_DATA_HOME: data },
    encoding: 'utf8',
  });
  if (started.status !== 0) {
    throw new Error(`gnome-keyring-daemon did not start (${started.status}): ${started.stderr}; run scripts/setup.sh`);
  }
}

export const config: WebdriverIO.Config = {
  ...base,
  specs: ['./e2e/keyring/**/*.spec.ts'],
  reporters: reporters('keyring'),
  exclude: [],
  onPrepare: async (...args) => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
      throw new Error('the keyring specs need a session bus of their own: run them under dbus-run-session');
    }
    const store = mkdtempSync(path.join(os.tmpdir(), 'ferry-e2e-keyring-'));
    process.env.FERRY_E2E_TUS_STORE = store;
    startKeyring(path.join(store, 'keyring'));
    process.env.FERRY_E2E_TUS_TOKEN = randomBytes(18).toString('base64url');
    tusServer = await startTusServer(
      path.join(store, 'files'),
      path.join(store, 'requests.log'),
      process.env.FERRY_E2E_TUS_TOKEN,
    );
    process.env.FERRY_E2E_TUS_ENDPOINT = tusServer.endpoint;
    const prepare = base.onPrepare;
    if (typeof prepare === 'function') await prepare(...args);
  },
  onComplete: async (...args) => {
    tusServer?.process.kill('SIGTERM');
    const store = process.env.FERRY_E2E_TUS_STORE;
    if (store && !process.env.FERRY_E2E_KEEP) rmSync(store, { recursive: true, force: true });
    const complete = base.onComplete;
    if (typeof complete === 'function') return complete(...args);
  },
};
