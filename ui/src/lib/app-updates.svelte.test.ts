// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FerryApp } from './app.svelte';
import JobList from './components/JobList.svelte';
import { FALLBACK_MS } from './frame-batch';
import type { ServerMessage } from './generated/protocol';
import { settle } from './testing/dom';
import { change, changeMessage, job, jobMessage, limits, progress, progressMessage, totals, totalsMessage, welcome } from './testing/fixtures';
import { ManualFrames } from './testing/frames';

/** An app driven by `frames`, holding jobs 1 to 3, uploading, from a welcome of epoch `e` at seq 1. */
function welcomedApp(frames: ManualFrames): FerryApp {
  const app = new FerryApp(false, frames.schedule);
  app.receive(welcome(1, 'e', [1, 2, 3].map((id) => job(id, { status: 'uploading' }))));
  return app;
}

function statuses(app: FerryApp): [number, string][] {
  return app.queue.jobs.map((view) => [view.id, view.status]);
}

describe('FerryApp queue updates', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('applies every update received within a frame with one update of the queue', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    let updates = 0;
    const stop = $effect.root(() => {
      $effect(() => {
        void app.queue;
        updates += 1;
      });
    });
    flushSync();
    expect(updates).toBe(1);
    updates = 0;

    for (let seq = 2; seq <= 101; seq += 1) {
      app.receive(progressMessage(seq, progress((seq % 3) + 1, { status: 'uploading', current: seq, total: 1000 }), totals({ jobs: 3 })));
    }
    flushSync();
    expect(updates).toBe(0);
    expect(app.queue.lastSeq).toBe(1);
    expect(frames.asked).toBe(1);

    frames.next();
    flushSync();
    expect(updates).toBe(1);
    expect(app.queue.lastSeq).toBe(101);
    expect(app.queue.jobs.map((view) => view.progress.current)).toEqual([99, 100, 101]);
    stop();
  });

  it('applies the updates of a frame in the order they came', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    app.receive(jobMessage(2, job(4, { status: 'hashing' })));
    // Only meaningful after the job above: a figure for a job not held is dropped.
    app.receive(progressMessage(3, progress(4, { status: 'hashing', current: 7, total: 10 })));
    app.receive(changeMessage(4, change(1, { status: 'failed', error: 'disk full' })));
    app.receive(jobMessage(5, job(1, { status: 'queued' })));
    // Sent again, as after a lost acknowledgement: not newer than what came before it.
    app.receive(changeMessage(4, change(1, { status: 'failed', error: 'disk full' })));
    app.receive(totalsMessage(6, totals({ jobs: 4, active: 3, queued: 1 })));
    frames.next();

    expect(statuses(app)).toEqual([
      [1, 'queued'],
      [2, 'uploading'],
      [3, 'uploading'],
      [4, 'hashing'],
    ]);
    expect(app.queue.jobs[3]?.progress.current).toBe(7);
    expect(app.queue).toMatchObject({ lastSeq: 6, totals: { jobs: 4, queued: 1 } });
    // The failure in the middle of the frame is told of once, though the job was retried since.
    expect(app.notifications.entries.map((entry) => entry.title)).toEqual(['Upload failed: file-1.bin']);
  });

  it('applies a welcome at once, after the updates waiting for the frame', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    app.receive(changeMessage(2, change(1, { status: 'failed', error: 'disk full' })));
    // A new run of the engine: its seq starts again, below the one waiting.
    app.receive(welcome(1, 'f', [job(1, { status: 'uploading' }), job(2, { status: 'done' })]));

    expect(app.queue).toMatchObject({ epoch: 'f', lastSeq: 1 });
    expect(statuses(app)).toEqual([
      [1, 'uploading'],
      [2, 'done'],
    ]);
    expect(app.notifications.entries.map((entry) => entry.title)).toEqual(['Upload failed: file-1.bin']);
    expect(frames.pending).toBe(0);
    frames.next();
    expect(statuses(app)[0]).toEqual([1, 'uploading']);
  });

  it('applies what is waiting at once when the engine resumes a socket', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    app.receive(progressMessage(2, progress(2, { status: 'uploading', current: 5, total: 10 })));
    app.receive({ type: 'resume', seq: 2, epoch: 'e', from_seq: 2, limits });
    expect(app.queue.lastSeq).toBe(2);
    expect(app.queue.jobs[1]?.progress.current).toBe(5);
    expect(frames.pending).toBe(0);
  });

  it('applies what is waiting before a polled queue replaces it', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    app.receive(changeMessage(2, change(3, { status: 'failed', error: 'disk full' })));
    app.receiveSnapshot({ jobs: [job(3, { status: 'queued' })], totals: totals({ jobs: 1, queued: 1 }) });
    expect(app.queue.polled).toBe(true);
    expect(statuses(app)).toEqual([[3, 'queued']]);
    expect(app.notifications.entries.map((entry) => entry.title)).toEqual(['Upload failed: file-3.bin']);
    expect(frames.pending).toBe(0);
  });

  it('withdraws the frame and drops what waits for it when stopped', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    app.receive(progressMessage(2, progress(1, { status: 'uploading', current: 5, total: 10 })));
    expect(frames.pending).toBe(1);
    app.stop();
    expect(frames.pending).toBe(0);
    expect(frames.withdrawn).toBe(1);
    frames.next();
    app.flushUpdates();
    expect(app.queue.lastSeq).toBe(1);
  });

  it('asks for no frame for messages that change nothing in the queue', () => {
    const frames = new ManualFrames();
    const app = welcomedApp(frames);
    app.receive({ type: 'error', seq: 2, error: { code: 'invalid_data', message: 'that was not JSON' } });
    expect(frames.asked).toBe(0);
    expect(app.toasts.items.map((toast) => toast.title)).toEqual(['Ferry reported a problem']);
  });

  it('applies the updates after FALLBACK_MS when no animation frame comes, as in a hidden window', () => {
    vi.useFakeTimers();
    vi.stubGlobal('requestAnimationFrame', () => 1);
    vi.stubGlobal('cancelAnimationFrame', () => undefined);
    const app = new FerryApp(false);
    app.receive(welcome(1, 'e', [job(1, { status: 'uploading' })]));
    app.receive(progressMessage(2, progress(1, { status: 'uploading', current: 5, total: 10 })));
    vi.advanceTimersByTime(FALLBACK_MS - 1);
    expect(app.queue.lastSeq).toBe(1);
    vi.advanceTimersByTime(1);
    expect(app.queue.lastSeq).toBe(2);
  });
});

describe('the cost of a busy frame', () => {
  const JOBS = 1000;
  const ROUNDS = 5;

  /** A frame's worth of updates: one figure for each job, each in a message of its own. */
  function frameOfProgress(round: number): ServerMessage[] {
    const base = 2 + round * JOBS;
    return Array.from({ length: JOBS }, (_, n) =>
      progressMessage(base + n, progress(n + 1, { status: 'uploading', current: (round + 1) * 1000 + n, total: 10_000_000 }), totals({ jobs: JOBS })),
    );
  }

  function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? NaN;
  }

  /** Milliseconds per frame, the median of ROUNDS, with the list on screen or not. */
  async function measure(batched: boolean, onScreen: boolean): Promise<number> {
    const frames = new ManualFrames();
    const app = new FerryApp(false, frames.schedule);
    app.receive(welcome(1, 'e', Array.from({ length: JOBS }, (_, n) => job(n + 1, { status: 'uploading' }))));
    const target = document.createElement('div');
    document.body.replaceChildren(target);
    const list = onScreen
      ? mount(JobList, {
          target,
          props: {
            get jobs() {
              return app.queue.jobs;
            },
            online: true,
            busy: app.busy,
            onAction: () => undefined,
          },
        })
      : null;
    await settle();
    const times: number[] = [];
    // The first round warms the code up and is not counted.
    for (let round = 0; round <= ROUNDS; round += 1) {
      const messages = frameOfProgress(round);
      const started = performance.now();
      if (batched) {
        for (const message of messages) app.receive(message);
        frames.next();
        flushSync();
      } else {
        // As each message came before: applied, and the page brought up to date, on its own.
        for (const message of messages) {
          app.receive(message);
          app.flushUpdates();
          flushSync();
        }
      }
      if (round > 0) times.push(performance.now() - started);
    }
    expect(app.queue.lastSeq).toBe(1 + (ROUNDS + 1) * JOBS);
    if (list) unmount(list);
    document.body.replaceChildren();
    return median(times);
  }

  it('is printed for a thousand progress updates to a thousand jobs within one frame, batched and one by one', async () => {
    const storeBatched = await measure(true, false);
    const storeEach = await measure(false, false);
    const pageBatched = await measure(true, true);
    const pageEach = await measure(false, true);
    const line = (label: string, batched: number, each: number) =>
      `  ${label}: batched ${batched.toFixed(2)} ms per frame, one by one ${each.toFixed(2)} ms (${(each / batched).toFixed(1)}×)`;
    console.log(
      [
        `A frame of ${JOBS} progress messages for ${JOBS} jobs (median of ${ROUNDS} frames, jsdom):`,
        line('queue only', storeBatched, storeEach),
        line('queue and the job list', pageBatched, pageEach),
      ].join('\n'),
    );
  });
});
