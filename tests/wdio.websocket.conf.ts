// The QA review's WebSocket specs (tests/e2e/websocket/), on a run of their own: they stop
// and start the app's progress server and leave jobs behind that the other specs, which
// count theirs, must not see. Uploads are capped at 8 MiB/s so that they last long enough
// to watch. Everything else is as in wdio.conf.ts.
import { config as base, reporters } from './wdio.conf.js';

export const config: WebdriverIO.Config = {
  ...base,
  // In this order, each on the same queue: the load spec's 200 jobs come last.
  specs: [
    './e2e/websocket/connection.spec.ts',
    './e2e/websocket/progress.spec.ts',
    './e2e/websocket/errors.spec.ts',
    './e2e/websocket/load.spec.ts',
  ],
  exclude: [],
  reporters: reporters('websocket'),
  onPrepare: async (...args) => {
    // Before the base preparation starts tauri-driver, which hands its environment on.
    process.env.FERRY_BANDWIDTH_LIMIT = String(8 * 1024 * 1024);
    const prepare = base.onPrepare;
    if (typeof prepare === 'function') await prepare(...args);
  },
};
