// Load: 200 files queued while 50 WebSocket clients run by the test watch beside the
// window. Every watcher must see every file end; the server's connection limit must
// refuse the one too many with a clear answer; and the window must keep answering
// clicks, which is measured and reported (not asserted: a time depends on the machine).
import { browser, $, expect } from '@wdio/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ConnectionInfo } from '../../../ui/src/lib/generated/protocol.js';
import { enqueuePaths, saveScreenshot, waitForConnection } from '../../helpers/app.js';
import { refusedUpgrade, Watcher } from '../../helpers/clients.js';
import { connectionInfo, firstOfType, socketSession, tokenProtocol } from '../../helpers/socket.js';

const FILES = 200;
const WATCHERS = 50;
/** The server's default connection limit. */
const MAX_CONNECTIONS = 64;

const artifacts = () => process.env.FERRY_E2E_ARTIFACTS ?? path.resolve('reports', 'artifacts');

/** Milliseconds from a click on the About button to its dialog in the page. */
async function clickToDialog(): Promise<number> {
  const ms = await browser.executeAsync<number, []>((done: (ms: number) => void) => {
    const button = document.querySelector<HTMLButtonElement>('[data-testid="about-button"]')!;
    const started = performance.now();
    button.click();
    const check = () => {
      if (document.querySelector('[data-testid="about-dialog"]')) done(performance.now() - started);
      else requestAnimationFrame(check);
    };
    check();
  });
  await browser.keys('Escape');
  await $('[data-testid="about-dialog"]').waitForExist({ reverse: true, timeoutMsg: 'the About dialog did not close on Escape' });
  return ms;
}

/** The app's resident memory in KiB, from the process that wrote the connection file. */
function residentKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function serverMetrics(info: ConnectionInfo) {
  const session = await socketSession(info.url, {
    protocols: ['ferry.v1', tokenProtocol(info.token)],
    send: [
      { frame: JSON.stringify({ type: 'hello' }), until: 'welcome' },
      { frame: JSON.stringify({ type: 'metrics' }), until: 'metrics' },
    ],
    closeAtEnd: true,
  });
  return firstOfType(session, 'metrics').metrics;
}

describe('under load', () => {
  let info: ConnectionInfo;
  let watchers: Watcher[] = [];
  let ids: number[] = [];
  const report: string[] = [];

  before(async () => {
    await waitForConnection();
    info = await connectionInfo();
  });

  after(async () => {
    await Promise.all(watchers.map((w) => w.close()));
    writeFileSync(path.join(artifacts(), 'ws-load.txt'), `${report.join('\n')}\n`);
    console.log(report.join('\n'));
  });

  it('multiple concurrent connections: 50 clients beside the window are all welcomed', async () => {
    watchers = await Promise.all(Array.from({ length: WATCHERS }, () => Watcher.connect(info)));
    expect(watchers.every((w) => w.welcomed)).toBe(true);
    await expect($('[data-testid="connection-badge"]')).toHaveAttribute('data-state', 'open');
  });

  it('message broadcast performance: every client, and the window, sees every one of 200 files end', async () => {
    const folder = path.join(process.env.FERRY_E2E_RUN!, 'fixtures', 'load');
    mkdirSync(folder, { recursive: true });
    const files = Array.from({ length: FILES }, (_, n) => {
      const file = path.join(folder, `load-${String(n).padStart(3, '0')}.txt`);
      writeFileSync(file, `file ${n} of the load test\n`.repeat(1000));
      return file;
    });
    const idle = await clickToDialog();
    const rssBefore = residentKiB(info.pid);
    const started = Date.now();
    ids = (await enqueuePaths(files)).jobs;
    expect(ids).toHaveLength(FILES);

    // The window answers clicks while 200 files go by and 51 clients are fed.
    const underLoad: number[] = [];
    for (let i = 0; i < 5; i += 1) underLoad.push(await clickToDialog());
    await saveScreenshot('ws-load');

    await Promise.all(
      watchers.map((w, n) => w.until(() => ids.every((id) => w.ended.get(id) === 'done'), `end of every file at watcher ${n}`, 120_000)),
    );
    const seconds = (Date.now() - started) / 1000;
    // The list draws only the rows near the viewport; it counts the done jobs of all of them.
    await browser.waitUntil(async () => Number(await $('[data-testid="job-list"]').getAttribute('data-done')) >= FILES, {
      timeout: 60_000,
      timeoutMsg: 'the window did not show every file done',
    });
    await saveScreenshot('ws-load-done');
    for (const w of watchers) expect(ids.filter((id) => w.ended.get(id) === 'done')).toHaveLength(FILES);

    const messages = watchers.reduce((sum, w) => sum + w.messages, 0);
    const kib = watchers.reduce((sum, w) => sum + w.bytes, 0) / 1024;
    const sorted = [...underLoad].sort((a, b) => a - b);
    report.push(
      `${FILES} files to Done with ${WATCHERS} watchers and the window: ${seconds.toFixed(1)} s`,
      `messages to the ${WATCHERS} watchers: ${messages} (${(messages / WATCHERS).toFixed(0)} each), ${kib.toFixed(0)} KiB`,
      `click to the About dialog: idle ${idle.toFixed(0)} ms; under load median ${sorted[2].toFixed(0)} ms, max ${sorted[4].toFixed(0)} ms (5 clicks)`,
      `app resident memory: ${rssBefore} KiB before the load, ${residentKiB(info.pid)} KiB after`,
    );
  });

  it('connection limit handling: the connection over the limit is refused with 503 and a reason', async () => {
    const open = (await serverMetrics(info)).connections_open;
    // The window, the 50 watchers, and the socket that asked.
    expect(open).toBe(WATCHERS + 2);
    const extra = await Promise.all(Array.from({ length: MAX_CONNECTIONS - (WATCHERS + 1) }, () => Watcher.connect(info)));
    try {
      const refusal = await refusedUpgrade(info);
      expect(refusal.status).toBe(503);
      expect(refusal.body).toContain('too many connections');
      report.push(`connection ${MAX_CONNECTIONS + 1}: HTTP ${refusal.status} "${refusal.body.trim()}"`);
      // The window is one of those let in, and it stays connected.
      await expect($('[data-testid="connection-badge"]')).toHaveAttribute('data-state', 'open');
    } finally {
      await Promise.all(extra.map((w) => w.close()));
    }
  });

  it('resource usage monitoring: the server counts what it sent and frees the closed connections', async () => {
    await Promise.all(watchers.map((w) => w.close()));
    watchers = [];
    let metrics = await serverMetrics(info);
    await browser.waitUntil(
      async () => {
        metrics = await serverMetrics(info);
        return metrics.connections_open === 2;
      },
      { timeoutMsg: `closed connections were not freed: ${metrics.connections_open} open` },
    );
    expect(metrics.messages_out).toBeGreaterThan(0);
    report.push(
      `server: ${metrics.connections_total} connections in all, ${metrics.messages_out} messages and ${(metrics.bytes_out / 1024).toFixed(0)} KiB out, ${metrics.lagged} lagged, ${metrics.resynced} resynced, ${metrics.refused} refused`,
    );
  });
});
