// Progress as the window shows it, recorded change by change in the page while real
// uploads run (capped at FERRY_BANDWIDTH_LIMIT by this run's configuration, so that
// they last long enough to watch), and compared with the engine's own state.
import { browser, $, $$, expect } from '@wdio/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Snapshot } from '../../../ui/src/lib/generated/protocol.js';
import { enqueuePaths, invoke, reconnectNow, saveScreenshot, waitForConnection } from '../../helpers/app.js';
import { startRecording, stopRecording, waitForStatus, type RowSample } from '../../helpers/progress.js';
import { connectionInfo, firstOfType, socketSession, tokenProtocol } from '../../helpers/socket.js';
import { processingProgress, testEvents, uploadProgress } from '../../fixtures/websocket-data.js';

/** Stages in the order a job goes through them. */
const STAGES = ['queued', 'hashing', 'parsing', 'uploading', 'verifying', 'done'];

function writeSource(name: string, size: number): { file: string; bytes: Buffer } {
  const folder = path.join(process.env.FERRY_E2E_RUN!, 'fixtures');
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  const bytes = randomBytes(size);
  writeFileSync(file, bytes);
  return { file, bytes };
}

/** The engine's state now, as a new client receives it in its welcome. */
async function engineSnapshot(): Promise<Snapshot> {
  const info = await connectionInfo();
  const session = await socketSession(info.url, {
    protocols: ['ferry.v1', tokenProtocol(info.token)],
    send: [{ frame: JSON.stringify({ type: 'hello' }), until: 'welcome' }],
    closeAtEnd: true,
  });
  return firstOfType(session, 'welcome').snapshot;
}

/**
 * What the window shows of every job: status and exact figures. The list draws only the
 * rows near the viewport; this run's queue is short enough for all of them to be drawn,
 * which the count the list keeps of its jobs confirms.
 */
async function shownJobs(): Promise<Array<{ id: number; status: string; current: number; total: number }>> {
  const rows = await $$('[data-testid="job-row"]');
  expect(rows.length).toBe(Number(await $('[data-testid="job-list"]').getAttribute('data-count')));
  const shown = [];
  for (const row of rows) {
    shown.push({
      id: Number(await row.getAttribute('data-job-id')),
      status: (await row.getAttribute('data-status')) ?? '',
      current: Number(await row.getAttribute('data-current')),
      total: Number(await row.getAttribute('data-total')),
    });
  }
  return shown.sort((a, b) => a.id - b.id);
}

describe('progress in the window', () => {
  // One upload of an odd size, recorded from before it was queued until it was done.
  const size = 20 * 1024 * 1024 + 12_345;
  let samples: RowSample[] = [];
  let jobId = 0;
  let source: { file: string; bytes: Buffer };

  before(async () => {
    await waitForConnection();
    source = writeSource('recorded.bin', size);
    await startRecording();
    [jobId] = (await enqueuePaths([source.file])).jobs;
    await browser.waitUntil(async () => (await $(`[data-testid="job-row"][data-job-id="${jobId}"]`).getAttribute('data-status')) === 'uploading', {
      timeoutMsg: 'the upload never showed as uploading',
    });
    await saveScreenshot('ws-uploading');
    await waitForStatus(jobId, 'done');
    samples = (await stopRecording()).filter((s) => s.jobId === jobId);
    await saveScreenshot('ws-progress-done');
  });

  it('progress event reception: the bar moves through every stage while the file uploads', () => {
    const stagesSeen = [...new Set(samples.map((s) => s.status))];
    // In the order the engine goes through them; a short stage may come and go between
    // two frames, but uploading, which the cap makes last seconds, and done must show.
    expect(stagesSeen.map((s) => STAGES.indexOf(s))).toEqual([...stagesSeen.map((s) => STAGES.indexOf(s))].sort((a, b) => a - b));
    expect(stagesSeen).toContain('uploading');
    expect(stagesSeen.at(-1)).toBe('done');
    const moving = samples.filter((s) => s.status === 'uploading' && s.percent > 0 && s.percent < 100);
    expect(moving.length).toBeGreaterThanOrEqual(5);
    // The QA review's samples are the same kind of figures: a stage and where it is.
    expect(uploadProgress(jobId).status).toBe('uploading');
    expect(processingProgress(jobId).status).toBe(testEvents.progress.processing.stage);
  });

  it('progress calculation accuracy: figures never go back, the bar matches them, and the end is exactly the file size and 100 %', () => {
    for (const stage of STAGES) {
      const inStage = samples.filter((s) => s.status === stage);
      for (let i = 1; i < inStage.length; i += 1) {
        expect(inStage[i].current).toBeGreaterThanOrEqual(inStage[i - 1].current);
        expect(inStage[i].percent).toBeGreaterThanOrEqual(inStage[i - 1].percent);
      }
      for (const s of inStage) {
        if (s.total > 0) expect(Math.abs(s.percent - (100 * s.current) / s.total)).toBeLessThanOrEqual(1);
      }
    }
    const uploading = samples.filter((s) => s.status === 'uploading');
    expect(uploading.every((s) => s.total === size)).toBe(true);
    const last = samples.at(-1)!;
    expect(last).toMatchObject({ status: 'done', current: size, total: size, percent: 100 });
    const copy = readFileSync(path.join(process.env.FERRY_DESTINATION_DIR!, 'recorded.bin'));
    expect(copy.equals(source.bytes)).toBe(true);
  });

  it('UI update frequency: the bar is redrawn often enough to look live and no more often than the server sends', () => {
    const uploading = samples.filter((s) => s.status === 'uploading');
    const seconds = (uploading.at(-1)!.at - uploading[0].at) / 1000;
    const perSecond = (uploading.length - 1) / seconds;
    const report = `progress redraws while uploading: ${uploading.length} in ${seconds.toFixed(2)} s = ${perSecond.toFixed(1)} per second`;
    console.log(report);
    const folder = process.env.FERRY_E2E_ARTIFACTS ?? path.resolve('reports', 'artifacts');
    writeFileSync(path.join(folder, 'ws-update-frequency.txt'), `${report}\n`);
    // The upload lasts over two seconds at the cap, so the rate is measured, not guessed.
    expect(seconds).toBeGreaterThan(1);
    expect(perSecond).toBeGreaterThanOrEqual(2);
    // The server sends each client at most 10 updates a second, plus stage changes.
    expect(perSecond).toBeLessThanOrEqual(20);
  });

  it('progress state consistency: after the connection comes back, the window shows what the engine holds', async () => {
    const files = [writeSource('consistency-a.bin', 12 * 1024 * 1024), writeSource('consistency-b.bin', 12 * 1024 * 1024 + 1)];
    const ids = (await enqueuePaths(files.map((f) => f.file))).jobs;
    await browser.waitUntil(async () => (await $(`[data-testid="job-row"][data-job-id="${ids[0]}"]`).getAttribute('data-status')) === 'uploading', {
      timeoutMsg: 'the first upload never started',
    });
    await invoke('e2e_stop_server');
    await browser.waitUntil(async () => (await $('[data-testid="connection-badge"]').getAttribute('data-state')) === 'reconnecting', {
      timeoutMsg: 'the window never noticed the connection was gone',
    });
    await invoke('e2e_start_server');
    await reconnectNow();
    await waitForConnection();

    // Right after the reconnection, every job the engine holds is in the window.
    const engineNow = await engineSnapshot();
    const shownNow = await shownJobs();
    expect(shownNow.map((j) => j.id)).toEqual(engineNow.jobs.map((j) => j.id).sort((a, b) => a - b));

    // And once the uploads end, the window and the engine agree to the byte.
    for (const id of ids) await waitForStatus(id, 'done');
    const engineEnd = await engineSnapshot();
    const expected = engineEnd.jobs
      .map((j) => ({ id: j.id, status: j.status, current: j.progress.current, total: j.progress.total }))
      .sort((a, b) => a.id - b.id);
    expect(await shownJobs()).toEqual(expected);
    await expect($('[data-testid="overall-progress"]')).toHaveText(expect.stringMatching(new RegExp(`^${engineEnd.totals.done} of `)));
  });
});
