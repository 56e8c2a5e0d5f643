// The QA review's WebSocket specs (tests/e2e/websocket/), on a run of their own: they stop
// and start the app's progress server and leave jobs behind that the other specs, which
// count theirs, must not see. Everything else is as in wdio.conf.ts.
import { config as base } from './wdio.conf.js';

export const config: WebdriverIO.Config = {
  ...base,
  specs: ['./e2e/websocket/**/*.spec.ts'],
  exclude: [],
};
