import { describe, expect, it } from 'vitest';
import type { JobProgress, JobView, QueueTotals, ServerMessage } from './generated/protocol';
import { limits } from './testing/fixtures';
import { validateServerMessage } from './validate';


const totals: QueueTotals = {
  jobs: 3,
  done: 1,
  failed: 0,
  active: 2,
  queued: 0,
  paused: 0,
  cancelled: 0,
  bytes_total: 314572800,
  bytes_done: 157286400,
  speed: 5242880.0,
  eta_secs: 150.0,
};

const uploading: JobProgress = {
  job_id: 7,
  status: 'uploading',
  current: 52428800,
  total: 104857600,
  speed: 1048576.0,
  eta_secs: 50.0,
  sent: 60817408,
};

const reportJob: JobView = {
  id: 7,
  path: '/home/ana/report.pdf',
  name: 'report.pdf',
  size: 104857600,
  status: 'uploading',
  progress: uploading,
  mime: 'application/pdf',
  hash: 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
  remote: null,
  error: null,
  note: 'Retrying after a network error (attempt 2 of 5).',
  created_at_ms: 1795000000000,
};

const queuedJob: JobView = {
  id: 9,
  path: '/home/ana/photos/IMG_0042.jpg',
  name: 'IMG_0042.jpg',
  size: 20971520,
  status: 'queued',
  progress: { job_id: 9, status: 'queued', current: 0, total: 0, speed: 0, eta_secs: null },
  mime: null,
  hash: null,
  remote: null,
  error: null,
  created_at_ms: 1795000000500,
};

/**
 * One realistic message of every type, keyed by type: a new server message type in the
 * protocol is a compile error here until it has a sample.
 */
const samples: { [Type in ServerMessage['type']]: Extract<ServerMessage, { type: Type }> } = {
  welcome: {
    type: 'welcome',
    seq: 41,
    epoch: '9f3c0a6b2d4e8f10',
    protocol: 'ferry.v1',
    server_version: '0.1.0',
    snapshot: { jobs: [reportJob, queuedJob], totals },
    limits,
  },
  resume: { type: 'resume', seq: 48, epoch: '9f3c0a6b2d4e8f10', from_seq: 41, limits },
  progress: {
    type: 'progress',
    seq: 42,
    progress: [uploading, { job_id: 9, status: 'hashing', current: 8388608, total: 20971520, speed: 4194304.0, eta_secs: 3.0 }],
    totals,
  },
  job: {
    type: 'job',
    seq: 40,
    job: { ...reportJob, status: 'verifying', progress: { ...uploading, status: 'verifying', current: 0, sent: undefined } },
    ended: { ...uploading, current: 104857600, eta_secs: 0 },
  },
  change: {
    type: 'change',
    seq: 43,
    job: {
      id: 7,
      status: 'done',
      progress: { job_id: 7, status: 'done', current: 104857600, total: 104857600, speed: 0.0, eta_secs: null },
      remote: '/home/ana/Ferry Uploads/report.pdf',
    },
    ended: { job_id: 7, status: 'verifying', current: 104857600, total: 104857600, speed: 412000000.0, eta_secs: 0.0 },
  },
  totals: { type: 'totals', seq: 44, totals: { ...totals, done: 2, active: 1, bytes_done: 262144000, eta_secs: 10.0 } },
  reply: {
    type: 'reply',
    seq: 43,
    id: '3f9a1c-12',
    result: { kind: 'enqueued', report: { jobs: [8, 9], skipped: [{ path: '/home/ana/.cache', reason: 'a hidden folder is not uploaded' }] } },
    error: null,
  },
  error: {
    type: 'error',
    seq: 43,
    error: { code: 'invalid_data', message: 'the message is not a valid ferry.v1 message: expected value at line 1 column 1' },
  },
  metrics: {
    type: 'metrics',
    seq: 43,
    metrics: {
      connections_open: 2,
      connections_total: 9,
      refused: 3,
      tasks: 2,
      messages_in: 120,
      messages_out: 5120,
      bytes_in: 4800,
      bytes_out: 2500000,
      coalesced: 900,
      lagged: 0,
      resynced: 0,
      resent: 1,
      closed_slow: 0,
      closed_limit: 1,
    },
  },
};

/** The message as it arrives: JSON text, parsed (undefined fields vanish, as on the wire). */
function wire(message: unknown): unknown {
  return JSON.parse(JSON.stringify(message));
}

/** Marks a field to be left out by `altered`. */
const REMOVED = Symbol('removed');

/** A copy of `message` with the field at `path` replaced (or removed), for breaking one field at a time. */
function altered(message: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  const copy = wire(message);
  let parent = copy as Record<string | number, unknown>;
  for (const segment of path.slice(0, -1)) parent = parent[segment] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (replacement === REMOVED) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

function problemOf(value: unknown): string | undefined {
  const verdict = validateServerMessage(value);
  return verdict.ok ? undefined : verdict.problem;
}

describe('validateServerMessage accepts', () => {
  it.each(Object.entries(samples))('a %s message', (_type, message) => {
    const value = wire(message);
    expect(validateServerMessage(value)).toEqual({ ok: true, message: value });
  });

  it('the very value it was given, typed', () => {
    const value = wire(samples.totals);
    const verdict = validateServerMessage(value);
    expect(verdict.ok && verdict.message).toBe(value);
  });

  it('a welcome with no jobs yet', () => {
    expect(problemOf(altered(samples.welcome, ['snapshot', 'jobs'], []))).toBeUndefined();
  });

  it('a reply carrying a job, and a reply carrying an error', () => {
    const jobReply = altered(samples.reply, ['result'], { kind: 'job', job: queuedJob });
    const errorReply = altered(altered(samples.reply, ['result'], null), ['error'], {
      code: 'unknown_job',
      message: 'There is no job 12.',
    });
    expect(problemOf(jobReply)).toBeUndefined();
    expect(problemOf(errorReply)).toBeUndefined();
  });

  it('fields it does not know, which a newer server may add', () => {
    const message = altered(altered(samples.progress, ['compressed'], true), ['progress', 0, 'stage_detail'], { chunk: 3 });
    expect(problemOf(message)).toBeUndefined();
  });

  it('every job status and every error code', () => {
    for (const status of ['queued', 'hashing', 'parsing', 'uploading', 'verifying', 'done', 'failed', 'paused', 'cancelled']) {
      expect(problemOf(altered(samples.progress, ['progress', 0, 'status'], status))).toBeUndefined();
    }
    for (const code of ['invalid_data', 'message_too_large', 'hello_required', 'id_reused', 'unknown_job', 'command_failed']) {
      expect(problemOf(altered(samples.error, ['error', 'code'], code))).toBeUndefined();
    }
  });
});

describe('validateServerMessage rejects, naming the field', () => {
  it('something that is not a message at all', () => {
    expect(problemOf(null)).toBe('expected an object, got null');
    expect(problemOf(undefined)).toBe('expected an object, got undefined');
    expect(problemOf('{"type":"totals"}')).toBe('expected an object, got "{\\"type\\":\\"totals\\"}"');
    expect(problemOf(42)).toBe('expected an object, got 42');
    expect(problemOf([samples.totals])).toBe('expected an object, got an array');
  });

  it('a message without a type, or of a type it does not know', () => {
    expect(problemOf({ seq: 1 })).toBe('missing required field "type"');
    expect(problemOf({ type: 'foo', seq: 1 })).toBe('unknown server message type "foo"');
    expect(problemOf({ type: 'Welcome', seq: 1 })).toBe('unknown server message type "Welcome"');
    expect(problemOf({ type: 7, seq: 1 })).toBe('unknown server message type 7');
    expect(problemOf({ type: 'constructor', seq: 1 })).toBe('unknown server message type "constructor"');
  });

  it('a field of the wrong type, deep inside', () => {
    expect(problemOf(altered(samples.progress, ['progress', 1, 'current'], 'x'))).toBe(
      'progress[1].current: expected a number, got "x"',
    );
    expect(problemOf(altered(samples.welcome, ['snapshot', 'jobs', 1, 'size'], '20971520'))).toBe(
      'snapshot.jobs[1].size: expected a number, got "20971520"',
    );
    expect(problemOf(altered(samples.welcome, ['limits', 'ack_timeout_ms'], null))).toBe(
      'limits.ack_timeout_ms: expected a number, got null',
    );
    expect(problemOf(altered(samples.metrics, ['metrics', 'bytes_out'], [2500000]))).toBe(
      'metrics.bytes_out: expected a number, got an array',
    );
  });

  it('numbers written as strings, NaN-ish ones included', () => {
    for (const text of ['NaN', 'Infinity', '-Infinity', '1e3', '']) {
      expect(problemOf(altered(samples.totals, ['totals', 'speed'], text))).toBe(
        `totals.speed: expected a number, got ${JSON.stringify(text)}`,
      );
    }
  });

  it('numbers JSON cannot carry', () => {
    expect(problemOf({ ...(wire(samples.totals) as object), seq: Number.NaN })).toBe('seq: expected a number, got NaN');
    expect(problemOf({ ...(wire(samples.totals) as object), seq: Number.POSITIVE_INFINITY })).toBe(
      'seq: expected a number, got Infinity',
    );
  });

  it('a missing required field', () => {
    expect(problemOf(altered(samples.job, ['job', 'status'], REMOVED))).toBe('job: missing required field "status"');
    expect(problemOf(altered(samples.progress, ['seq'], REMOVED))).toBe('missing required field "seq"');
    expect(problemOf(altered(samples.change, ['job', 'progress', 'eta_secs'], REMOVED))).toBe(
      'job.progress: missing required field "eta_secs"',
    );
    // `mime: null` must be said outright in a whole job; leaving it out is not the same.
    expect(problemOf(altered(samples.welcome, ['snapshot', 'jobs', 0, 'mime'], REMOVED))).toBe(
      'snapshot.jobs[0]: missing required field "mime"',
    );
  });

  it('null where the protocol leaves a field out instead', () => {
    expect(problemOf(altered(samples.change, ['job', 'mime'], null))).toBe('job.mime: expected a string, got null');
    expect(problemOf(altered(samples.job, ['ended'], null))).toBe('ended: expected an object, got null');
  });

  it('a status or an error code outside the protocol', () => {
    expect(problemOf(altered(samples.progress, ['progress', 0, 'status'], 'sleeping'))).toBe(
      'progress[0].status: expected one of "queued", "hashing", "parsing", "uploading", "verifying", "done", "failed", "paused", "cancelled", got "sleeping"',
    );
    expect(problemOf(altered(samples.error, ['error', 'code'], 'teapot'))).toMatch(
      /^error\.code: expected one of "invalid_data", .*, got "teapot"$/,
    );
  });

  it('a reply whose result is malformed, of an unknown kind, or neither an object nor null', () => {
    expect(problemOf(altered(samples.reply, ['result', 'report', 'jobs', 1], '9'))).toBe(
      'result.report.jobs[1]: expected a number, got "9"',
    );
    expect(problemOf(altered(samples.reply, ['result', 'kind'], 'paused'))).toBe(
      'result: unknown command result kind "paused"',
    );
    expect(problemOf(altered(samples.reply, ['result'], 'done'))).toBe(
      'result: expected an object or null, got "done"',
    );
    expect(problemOf(altered(samples.reply, ['error'], { code: 'unknown_job' }))).toBe(
      'error: missing required field "message"',
    );
  });

  it('arrays where an object is due, and objects where an array is', () => {
    expect(problemOf(altered(samples.welcome, ['snapshot'], []))).toBe('snapshot: expected an object, got an array');
    expect(problemOf(altered(samples.progress, ['progress'], uploading))).toBe(
      'progress: expected an array, got an object',
    );
  });
});

describe('validateServerMessage speed', () => {
  it('is measured on a progress message of 1,000 jobs', () => {
    const figures: JobProgress[] = Array.from({ length: 1000 }, (_, index) => ({
      job_id: index + 1,
      status: index % 3 === 0 ? 'hashing' : 'uploading',
      current: index * 65536,
      total: 104857600,
      speed: 1048576.5 + index,
      eta_secs: index % 10 === 0 ? null : 42.5,
      ...(index % 2 === 0 ? { sent: index * 65536 + 4096 } : {}),
    }));
    const message = wire({ type: 'progress', seq: 1000, progress: figures, totals });
    const runs = 200;
    // Warm up first, so the figure is the steady state rather than the JIT's first passes.
    for (let warmup = 0; warmup < 200; warmup += 1) validateServerMessage(message);
    const started = performance.now();
    let accepted = 0;
    for (let run = 0; run < runs; run += 1) if (validateServerMessage(message).ok) accepted += 1;
    const perRun = (performance.now() - started) / runs;
    console.log(`validating a progress message with 1,000 entries: ${(perRun * 1000).toFixed(1)} µs on average over ${runs} runs`);
    expect(accepted).toBe(runs);
  });
});
