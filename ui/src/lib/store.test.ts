import { describe, expect, it } from 'vitest';
import { applyMessage, applyMessages, applyPolledSnapshot, findJob, initialState, isLoaded, resumePoint, type QueueState } from './store';
import {
  change,
  changeMessage,
  job,
  jobMessage,
  limits,
  progress,
  progressMessage,
  totals,
  totalsMessage,
  welcome,
} from './testing/fixtures';
import type { JobView, ServerMessage } from './generated/protocol';

function ids(state: QueueState): number[] {
  return state.jobs.map((view) => view.id);
}

describe('applyMessage', () => {
  it('welcome replaces the whole state', () => {
    const first = applyMessage(initialState, welcome(4, 'epoch-a', [job(1), job(2)], totals({ jobs: 2, queued: 2 })));
    expect(first.epoch).toBe('epoch-a');
    expect(first.lastSeq).toBe(4);
    expect(ids(first)).toEqual([1, 2]);
    expect(first.totals.jobs).toBe(2);
    expect(first.serverVersion).toBe('0.1.0');

    const resync = applyMessage(first, welcome(9, 'epoch-a', [job(3)], totals({ jobs: 1, queued: 1 })));
    expect(resync.lastSeq).toBe(9);
    expect(ids(resync)).toEqual([3]);
    expect(findJob(resync, 1)).toBeUndefined();
    expect(findJob(resync, 3)?.name).toBe('file-3.bin');
    expect(resync.totals.jobs).toBe(1);
  });

  it('does not modify the state it is given', () => {
    const before = applyMessage(initialState, welcome(1, 'e', [job(1)]));
    const snapshot = JSON.stringify(before.jobs);
    applyMessage(before, progressMessage(2, progress(1, { status: 'hashing', current: 10, total: 100 })));
    applyMessage(before, jobMessage(3, job(2)));
    expect(JSON.stringify(before.jobs)).toBe(snapshot);
    expect(before.lastSeq).toBe(1);
    expect(initialState.jobs).toHaveLength(0);
  });

  it('progress updates one job and the totals', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1), job(2)], totals({ jobs: 2, queued: 2 })));
    const figures = progress(2, { status: 'uploading', current: 250_000, total: 1_000_000, speed: 50_000, eta_secs: 15 });
    const next = applyMessage(start, progressMessage(2, figures, totals({ jobs: 2, active: 1, queued: 1, bytes_done: 250_000 })));

    expect(next.lastSeq).toBe(2);
    expect(findJob(next, 2)?.progress).toEqual(figures);
    expect(findJob(next, 1)).toBe(findJob(start, 1));
    expect(next.totals.bytes_done).toBe(250_000);
    expect(next.totals.active).toBe(1);
    // Status follows job messages only.
    expect(findJob(next, 2)?.status).toBe('queued');
  });

  it('a batch applies the latest figures of every job it carries, in one new state', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1), job(2), job(3)], totals({ jobs: 3 })));
    const one = progress(1, { status: 'hashing', current: 40, total: 100 });
    const three = progress(3, { status: 'uploading', current: 7, total: 10 });
    const next = applyMessage(start, progressMessage(2, [one, three], totals({ jobs: 3, active: 2 })));

    expect(next.lastSeq).toBe(2);
    expect(findJob(next, 1)?.progress).toEqual(one);
    expect(findJob(next, 3)?.progress).toEqual(three);
    // A job the batch does not name keeps its object.
    expect(findJob(next, 2)).toBe(findJob(start, 2));
    expect(next.totals.active).toBe(2);
  });

  it('a merged progress message leaves the same state as the messages it stands for', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1), job(2), job(3)], totals({ jobs: 3 })));
    const figure = (id: number, current: number) => progress(id, { status: 'uploading', current, total: 100 });
    // What a client that keeps up reads: one message per figure.
    const separate = [
      progressMessage(2, figure(1, 10), totals({ jobs: 3, bytes_done: 10 })),
      progressMessage(3, figure(3, 5), totals({ jobs: 3, bytes_done: 15 })),
      progressMessage(4, figure(1, 20), totals({ jobs: 3, bytes_done: 25 })),
    ].reduce(applyMessage, start);
    // What a client that was behind reads: the newest figure of each job, in job order,
    // with the last message's seq and totals.
    const merged = applyMessage(start, progressMessage(4, [figure(1, 20), figure(3, 5)], totals({ jobs: 3, bytes_done: 25 })));

    expect(merged).toEqual(separate);
    expect(merged.lastSeq).toBe(4);
    // Messages merged into it are not applied again after it.
    expect(applyMessage(merged, progressMessage(3, figure(3, 1)))).toBe(merged);
  });

  it('a figure older than the job stage is left out; later stages and the same stage apply', () => {
    let state = applyMessage(initialState, welcome(1, 'e', [job(1), job(2)], totals({ jobs: 2 })));
    state = applyMessage(state, jobMessage(2, job(1, { status: 'verifying', progress: progress(1, { status: 'verifying', current: 0, total: 100 }) })));
    state = applyMessage(state, jobMessage(3, job(2, { status: 'paused' })));

    const stale = progress(1, { status: 'uploading', current: 90, total: 100 });
    const afterPause = progress(2, { status: 'uploading', current: 50, total: 100 });
    const next = applyMessage(state, progressMessage(4, [stale, afterPause]));
    expect(findJob(next, 1)?.progress.status).toBe('verifying');
    expect(findJob(next, 2)?.progress).toEqual(findJob(state, 2)?.progress);
    // The batch is still applied: its seq and totals are the newest.
    expect(next.lastSeq).toBe(4);

    const verified = progress(1, { status: 'verifying', current: 100, total: 100 });
    expect(findJob(applyMessage(next, progressMessage(5, [verified])), 1)?.progress).toEqual(verified);
  });

  it('a job message inserts a new job at the end', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1)]));
    const next = applyMessage(start, jobMessage(2, job(7, { name: 'photo.jpg' })));
    expect(ids(next)).toEqual([1, 7]);
    expect(findJob(next, 7)?.name).toBe('photo.jpg');
    expect(next.lastSeq).toBe(2);
    // The totals come in their own message.
    expect(next.totals).toBe(start.totals);
  });

  it('a job message replaces the stored job in place', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1), job(2), job(3)]));
    const failed = job(2, { status: 'failed', error: 'The server refused the upload (HTTP 413).' });
    const next = applyMessage(start, jobMessage(2, failed));
    expect(ids(next)).toEqual([1, 2, 3]);
    expect(findJob(next, 2)).toEqual(failed);
    expect(next.jobs).toHaveLength(3);
  });

  it('a change sets the status and figures, replaces the fields it carries and keeps the rest', () => {
    const held = job(2, { status: 'uploading', mime: 'image/png', hash: 'ab12', note: 'Retrying after a network error' });
    const start = applyMessage(initialState, welcome(1, 'e', [job(1), held, job(3)]));
    const figures = progress(2, { status: 'verifying', current: 0, total: 1_000_000 });
    const verifying = change(2, { status: 'verifying', progress: figures, remote: 'https://uploads.example/f/2', note: 'Checking the upload' });
    const next = applyMessage(start, changeMessage(2, verifying));

    expect(next.lastSeq).toBe(2);
    expect(ids(next)).toEqual([1, 2, 3]);
    expect(findJob(next, 2)).toEqual({
      ...held,
      status: 'verifying',
      progress: figures,
      remote: 'https://uploads.example/f/2',
      note: 'Checking the upload',
    });
    // Jobs the change does not name keep their objects, and the totals stay.
    expect(findJob(next, 1)).toBe(findJob(start, 1));
    expect(findJob(next, 3)).toBe(findJob(start, 3));
    expect(next.totals).toBe(start.totals);
    // The job held before is left as it was.
    expect(findJob(start, 2)).toEqual(held);
  });

  it('a change with only status and figures keeps every other field', () => {
    const held = job(1, { status: 'parsing', mime: 'application/pdf', hash: 'cd34', error: null, note: 'Slow disk' });
    const start = applyMessage(initialState, welcome(1, 'e', [held]));
    const next = applyMessage(start, changeMessage(2, change(1, { status: 'uploading' })));
    expect(findJob(next, 1)).toEqual({ ...held, status: 'uploading', progress: progress(1, { status: 'uploading' }) });
  });

  it('a change for a job the state does not hold changes no job, but its seq is applied', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1)], totals({ jobs: 1 })));
    const next = applyMessage(start, changeMessage(2, change(99, { status: 'failed', error: 'gone' })));
    expect(next.lastSeq).toBe(2);
    expect(next.jobs).toBe(start.jobs);
    expect(next.index).toBe(start.index);
    expect(findJob(next, 99)).toBeUndefined();
    expect(next.totals).toBe(start.totals);
  });

  it('a totals message replaces the totals and nothing else', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1)], totals({ jobs: 1, queued: 1 })));
    const figures = totals({ jobs: 1, active: 1, bytes_total: 1_000_000 });
    const next = applyMessage(start, totalsMessage(2, figures));
    expect(next.totals).toEqual(figures);
    expect(next.lastSeq).toBe(2);
    expect(next.jobs).toBe(start.jobs);
  });

  it('ignores progress and job messages whose seq is not newer', () => {
    let state = applyMessage(initialState, welcome(10, 'e', [job(1)], totals({ jobs: 1 })));
    state = applyMessage(state, progressMessage(11, progress(1, { status: 'hashing', current: 500, total: 1000 })));

    const staleProgress = applyMessage(state, progressMessage(11, progress(1, { status: 'hashing', current: 100, total: 1000 })));
    expect(staleProgress).toBe(state);
    const olderProgress = applyMessage(state, progressMessage(5, progress(1, { status: 'hashing', current: 100, total: 1000 })));
    expect(olderProgress).toBe(state);
    const staleJob = applyMessage(state, jobMessage(10, job(1, { status: 'done' })));
    expect(staleJob).toBe(state);
    expect(findJob(state, 1)?.progress.current).toBe(500);
    expect(state.lastSeq).toBe(11);
  });

  it('ignores change and totals messages whose seq is not newer', () => {
    const state = applyMessage(initialState, welcome(10, 'e', [job(1, { status: 'uploading' })], totals({ jobs: 1, active: 1 })));
    for (const seq of [10, 4]) {
      expect(applyMessage(state, changeMessage(seq, change(1, { status: 'failed', error: 'late' })))).toBe(state);
      expect(applyMessage(state, totalsMessage(seq, totals({ jobs: 1, failed: 1 })))).toBe(state);
    }
    expect(findJob(state, 1)?.status).toBe('uploading');
    expect(state.totals.failed).toBe(0);
  });

  it('ignores progress, job, change and totals messages before the first welcome', () => {
    expect(applyMessage(initialState, jobMessage(1, job(1)))).toBe(initialState);
    expect(applyMessage(initialState, progressMessage(1, progress(1)))).toBe(initialState);
    expect(applyMessage(initialState, changeMessage(1, change(1)))).toBe(initialState);
    expect(applyMessage(initialState, totalsMessage(1, totals({ jobs: 1 })))).toBe(initialState);
  });

  it('a welcome from a new epoch resets everything, even with a lower seq', () => {
    let state = applyMessage(initialState, welcome(1, 'old', [job(1), job(2)], totals({ jobs: 2 })));
    state = applyMessage(state, jobMessage(40, job(3)));
    expect(state.lastSeq).toBe(40);

    const restarted = applyMessage(state, welcome(0, 'new', [job(5)], totals({ jobs: 1 })));
    expect(restarted.epoch).toBe('new');
    expect(restarted.lastSeq).toBe(0);
    expect(ids(restarted)).toEqual([5]);
    expect(restarted.totals.jobs).toBe(1);

    // Numbers restart with the epoch: seq 1 is new again.
    const after = applyMessage(restarted, jobMessage(1, job(6)));
    expect(ids(after)).toEqual([5, 6]);
    expect(after.lastSeq).toBe(1);
  });

  it('progress for an unknown job adds no job', () => {
    const start = applyMessage(initialState, welcome(1, 'e', [job(1)], totals({ jobs: 1 })));
    const next = applyMessage(start, progressMessage(2, progress(99, { status: 'uploading', current: 5, total: 10 })));
    expect(ids(next)).toEqual([1]);
    expect(findJob(next, 99)).toBeUndefined();
    expect(findJob(next, 1)).toBe(findJob(start, 1));
  });

  it('a resume keeps the state, and replayed messages apply once by seq', () => {
    let state = applyMessage(initialState, welcome(5, 'e', [job(1)], totals({ jobs: 1 })));
    const resumed = applyMessage(state, { type: 'resume', seq: 7, epoch: 'e', from_seq: 5, limits });
    expect(resumed).toBe(state);
    const done = jobMessage(6, job(1, { status: 'done' }));
    state = applyMessage(resumed, done);
    expect(findJob(state, 1)?.status).toBe('done');
    expect(state.lastSeq).toBe(6);
    // The same terminal event sent again (not yet acknowledged) changes nothing.
    expect(applyMessage(state, done)).toBe(state);
  });

  it('replies and errors leave the state alone', () => {
    const start = applyMessage(initialState, welcome(3, 'e', [job(1)]));
    expect(applyMessage(start, { type: 'reply', seq: 3, id: 'a-1', result: null, error: null })).toBe(start);
    expect(
      applyMessage(start, { type: 'error', seq: 3, error: { code: 'invalid_data', message: 'bad message' } }),
    ).toBe(start);
  });
});

describe('applyMessages', () => {
  /** A run of every kind of message, stale ones and a new run of the engine included. */
  const run = [
    welcome(1, 'e', [job(1, { status: 'uploading' }), job(2, { status: 'uploading' })]),
    progressMessage(2, [progress(1, { status: 'uploading', current: 5, total: 10 }), progress(9, { status: 'uploading', current: 1 })]),
    jobMessage(3, job(3, { status: 'hashing' })),
    progressMessage(4, progress(3, { status: 'hashing', current: 2, total: 4 }), totals({ jobs: 3, active: 3 })),
    changeMessage(5, change(1, { status: 'failed', error: 'disk full' })),
    changeMessage(5, change(1, { status: 'failed', error: 'disk full' })),
    changeMessage(6, change(1, { status: 'failed', error: 'still full' })),
    jobMessage(7, job(2, { status: 'failed', error: 'refused' })),
    changeMessage(8, change(7, { status: 'failed' })),
    progressMessage(9, progress(2, { status: 'queued', current: 1 })),
    { type: 'resume', seq: 9, epoch: 'e', from_seq: 9, limits },
    jobMessage(10, job(1, { status: 'queued' })),
    totalsMessage(11, totals({ jobs: 3, queued: 1, failed: 1 })),
    welcome(2, 'f', [job(1, { status: 'done' })]),
    changeMessage(3, change(1, { status: 'failed', error: 'gone' })),
  ] satisfies ServerMessage[];

  it('leaves the state, and names the failures, that applying each message in turn does', () => {
    for (let split = 0; split <= run.length; split += 1) {
      let expected = initialState;
      const failures: JobView[] = [];
      for (const message of run) {
        failures.push(...newlyFailed(expected, message));
        expected = applyMessage(expected, message);
      }
      // In two batches, split anywhere: the frames fall where they fall.
      const first = applyMessages(initialState, run.slice(0, split));
      const second = applyMessages(first.state, run.slice(split));
      expect(second.state).toEqual(expected);
      expect([...first.failed, ...second.failed]).toEqual(failures);
    }
  });

  it('gives back the same state when nothing applies, and leaves the state it is given alone', () => {
    const state = applyMessage(initialState, welcome(5, 'e', [job(1, { status: 'uploading' })]));
    const kept = JSON.stringify(state.jobs);
    expect(applyMessages(state, [progressMessage(4, progress(1, { status: 'uploading', current: 3 }))]).state).toBe(state);
    expect(applyMessages(state, []).state).toBe(state);
    const { state: after } = applyMessages(state, [
      progressMessage(6, progress(1, { status: 'uploading', current: 3 })),
      jobMessage(7, job(2)),
      changeMessage(8, change(1, { status: 'paused' })),
    ]);
    expect(JSON.stringify(state.jobs)).toBe(kept);
    expect(state.index.has(2)).toBe(false);
    expect(after.jobs.map((view) => [view.id, view.status])).toEqual([
      [1, 'paused'],
      [2, 'queued'],
    ]);
    expect(after.index.get(2)).toBe(1);
  });
});

/** The failures `message` alone would tell of, applied to `before`. */
function newlyFailed(before: QueueState, message: ServerMessage): JobView[] {
  return applyMessages(before, [message]).failed;
}

describe('the failures a batch tells of', () => {
  it('reports a job that has just failed', () => {
    const before = applyMessage(initialState, welcome(1, 'e', [job(1, { status: 'uploading' })]));
    const message = jobMessage(2, job(1, { status: 'failed', error: 'Disk full' }));
    expect(newlyFailed(before, message).map((failed) => failed.error)).toEqual(['Disk full']);
  });

  it('stays quiet for a job that had already failed, a stale message, or another status', () => {
    const before = applyMessage(initialState, welcome(5, 'e', [job(1, { status: 'failed', error: 'x' }), job(2)]));
    const again = jobMessage(6, job(1, { status: 'failed', error: 'x' }));
    expect(newlyFailed(before, again)).toEqual([]);

    const stale = jobMessage(5, job(2, { status: 'failed', error: 'y' }));
    expect(newlyFailed(before, stale)).toEqual([]);

    const done = jobMessage(7, job(2, { status: 'done' }));
    expect(newlyFailed(before, done)).toEqual([]);
  });

  it('reports a change that has just failed a job, as the job now is', () => {
    const before = applyMessage(initialState, welcome(1, 'e', [job(1, { name: 'report.pdf', status: 'uploading', hash: 'ab12' })]));
    const message = changeMessage(2, change(1, { status: 'failed', error: 'Disk full' }));
    const { state: after, failed: [failed, ...others] } = applyMessages(before, [message]);
    expect(others).toEqual([]);
    expect(failed).toBe(findJob(after, 1));
    expect(failed?.name).toBe('report.pdf');
    expect(failed?.hash).toBe('ab12');
    expect(failed?.error).toBe('Disk full');
  });

  it('stays quiet for a change to a job that had already failed, is not held, is stale or did not fail', () => {
    const before = applyMessage(initialState, welcome(5, 'e', [job(1, { status: 'failed', error: 'x' }), job(2, { status: 'uploading' })]));
    const again = changeMessage(6, change(1, { status: 'failed', error: 'x again' }));
    expect(newlyFailed(before, again)).toEqual([]);

    const unknown = changeMessage(6, change(99, { status: 'failed', error: 'z' }));
    expect(newlyFailed(before, unknown)).toEqual([]);

    const stale = changeMessage(5, change(2, { status: 'failed', error: 'y' }));
    expect(newlyFailed(before, stale)).toEqual([]);

    const done = changeMessage(7, change(2, { status: 'done' }));
    expect(newlyFailed(before, done)).toEqual([]);
  });
});

describe('applyPolledSnapshot', () => {
  it('replaces the whole state as a welcome does, keeping the server version', () => {
    const before = applyMessage(initialState, welcome(7, 'e', [job(1), job(2)], totals({ jobs: 2 })));
    const polled = applyPolledSnapshot(before, { jobs: [job(2, { status: 'done' }), job(3)], totals: totals({ jobs: 2, done: 1 }) });
    expect(ids(polled)).toEqual([2, 3]);
    expect(findJob(polled, 2)?.status).toBe('done');
    expect(findJob(polled, 1)).toBeUndefined();
    expect(polled.totals).toEqual(totals({ jobs: 2, done: 1 }));
    expect(polled.serverVersion).toBe('0.1.0');
    expect(polled.polled).toBe(true);
    expect(isLoaded(polled)).toBe(true);
    expect(ids(before)).toEqual([1, 2]);
  });

  it('names no resume point, so the next socket asks for a whole welcome, which takes over', () => {
    const welcomed = applyMessage(initialState, welcome(7, 'e', [job(1)]));
    expect(resumePoint(welcomed)).toEqual({ epoch: 'e', lastSeq: 7 });

    const polled = applyPolledSnapshot(welcomed, { jobs: [job(1, { status: 'uploading' })], totals: totals({ jobs: 1 }) });
    expect(resumePoint(polled)).toBeNull();
    // Numbered updates belong to a run's sequence, which a polled state has no place in.
    expect(applyMessage(polled, jobMessage(8, job(1, { status: 'done' })))).toBe(polled);

    const again = applyMessage(polled, welcome(2, 'e', [job(1, { status: 'done' })]));
    expect(again.polled).toBe(false);
    expect(resumePoint(again)).toEqual({ epoch: 'e', lastSeq: 2 });
    expect(findJob(applyMessage(again, jobMessage(3, job(1, { status: 'failed' }))), 1)?.status).toBe('failed');
  });

  it('is loaded only once a welcome or a poll came', () => {
    expect(isLoaded(initialState)).toBe(false);
    expect(resumePoint(initialState)).toBeNull();
    expect(isLoaded(applyMessage(initialState, welcome(1, 'e', [])))).toBe(true);
  });
});
