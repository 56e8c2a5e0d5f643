// Drives the built Ferry app through tauri-driver, which hands the session to
// WebKitWebDriver. Each run gets fresh data and destination folders so runs never
// see each other's jobs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const application =
  process.env.FERRY_APP ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, 'target'), 'release', 'ferry-desktop');
const driverPort = 4444;
/** Where the runs leave their JUnit files, screenshots and measurements, and the summary of them. */
export const reportsDir = process.env.FERRY_REPORTS ?? path.join(root, 'reports');

/** The spec reporter for the terminal, and a JUnit file per spec file named after `run`. */
export function reporters(run: string): WebdriverIO.Config['reporters'] {
  return [
    'spec',
    ['junit', { outputDir: path.join(reportsDir, 'junit'), outputFileFormat: ({ cid }: { cid: string }) => `${run}-${cid}.xml` }],
  ];
}

let tauriDriver: ChildProcess | undefined;

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.end();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`tauri-driver did not listen on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export const config: WebdriverIO.Config = {
  runner: 'local',
  specs: ['./e2e/**/*.spec.ts'],
  // Those run with configurations of their own (wdio.tus.conf.ts and the others beside it).
  exclude: ['./e2e/tus/**', './e2e/destinations/**', './e2e/keyring/**', './e2e/websocket/**'],
  maxInstances: 1,
  hostname: '127.0.0.1',
  port: driverPort,
  capabilities: [
    {
      'tauri:options': { application },
      'wdio:enforceWebDriverClassic': true,
    } as WebdriverIO.Capabilities,
  ],
  logLevel: 'warn',
  framework: 'mocha',
  reporters: reporters('app'),
  mochaOpts: { ui: 'bdd', timeout: 120_000 },
  waitforTimeout: 30_000,

  onPrepare: async () => {
    const run = mkdtempSync(path.join(os.tmpdir(), 'ferry-e2e-'));
    for (const name of ['data', 'destination', 'fixtures']) mkdirSync(path.join(run, name));
    // Inherited by tauri-driver, WebKitWebDriver, the app and the spec workers.
    process.env.FERRY_E2E_RUN = run;
    // The program under test, for specs that launch it a second time.
    process.env.FERRY_E2E_APPLICATION = application;
    process.env.FERRY_DATA_DIR = path.join(run, 'data');
    process.env.FERRY_DESTINATION_DIR = path.join(run, 'destination');
    // Not created here: the app must create its log folder itself.
    process.env.FERRY_LOG_DIR = path.join(run, 'logs', 'nested');
    process.env.FERRY_CONNECTION_FILE = path.join(run, 'connection.json');
    // No stored destinations of the machine's user: the run's own, empty configuration.
    process.env.FERRY_CONFIG_DIR = path.join(run, 'config');
    // Xvfb has no GPU: WebKitGTK's DMA-BUF renderer would paint stale frames there.
    process.env.WEBKIT_DISABLE_DMABUF_RENDERER = '1';
    process.env.FERRY_E2E_ARTIFACTS ??= path.join(reportsDir, 'artifacts');
    mkdirSync(process.env.FERRY_E2E_ARTIFACTS, { recursive: true });
    // The app's stdout and stderr reach us through tauri-driver; keep a copy the specs can read.
    process.env.FERRY_E2E_APP_OUTPUT = path.join(run, 'app-output.log');
    const output = createWriteStream(process.env.FERRY_E2E_APP_OUTPUT);
    tauriDriver = spawn('tauri-driver', ['--port', String(driverPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [tauriDriver.stdout, tauriDriver.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        output.write(chunk);
        process.stderr.write(chunk);
      });
    }
    tauriDriver.once('error', (error) => {
      console.error(`could not start tauri-driver: ${error.message}; run scripts/setup.sh`);
    });
    await waitForPort(driverPort, 20_000);
  },

  // A failed test leaves a picture of the window behind, to see what state it was in.
  afterTest: async (test, _context, result) => {
    if (result.passed) return;
    const { saveScreenshot } = await import('./helpers/app.js');
    await saveScreenshot(`failed-${test.title.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`).catch((error: unknown) => {
      console.warn(`could not take a screenshot of the failure: ${String(error)}`);
    });
  },

  onComplete: () => {
    tauriDriver?.kill();
    // Each run's data, uploads and fixtures go with it (screenshots stay in the reports
    // folder); FERRY_E2E_KEEP=1 keeps them for a look after a failure.
    const run = process.env.FERRY_E2E_RUN;
    if (run && !process.env.FERRY_E2E_KEEP) rmSync(run, { recursive: true, force: true });
  },
};
