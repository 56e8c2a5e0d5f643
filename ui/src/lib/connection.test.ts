import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ACK_GATHER_MS,
  CommandError,
  Connection,
  describeClose,
  MAX_QUEUED_COMMANDS,
  type ConnectionOptions,
  type ConnectionStatus,
  type ResumePoint,
} from './connection';
import type { CommandResult, ServerMessage, Snapshot } from './generated/protocol';
import { change, changeMessage, job, jobMessage, progress, totals, totalsMessage, welcome } from './testing/fixtures';
import { FakeSocket } from './testing/socket';

interface Harness {
  connection: Connection;
  sockets: FakeSocket[];
  statuses: ConnectionStatus[];
  messages: ServerMessage[];
  latest(): FakeSocket;
}

function harness(
  random: () => number = () => 0.5,
  resume: ResumePoint | null = null,
  now?: () => number,
  more: Partial<ConnectionOptions> = {},
): Harness {
  const sockets: FakeSocket[] = [];
  const statuses: ConnectionStatus[] = [];
  const messages: ServerMessage[] = [];
  const connection = new Connection({
    getInfo: () => Promise.resolve({ url: 'ws://127.0.0.1:41000', token: 'secret-token', pid: 42 }),
    getResume: () => resume,
    onMessage: (message) => messages.push(message),
    onStatus: (status) => statuses.push(status),
    createSocket: (url, protocols) => {
      const socket = new FakeSocket(url, protocols);
      sockets.push(socket);
      return socket;
    },
    random,
    now,
    ...more,
  });
  return {
    connection,
    sockets,
    statuses,
    messages,
    latest: () => {
      const socket = sockets[sockets.length - 1];
      if (!socket) throw new Error('no socket was opened');
      return socket;
    },
  };
}

function welcomeLimits(): unknown {
  const message = welcome(0, 'e', []);
  return message.type === 'welcome' ? message.limits : null;
}

/** The acknowledgements among the frames a socket sent. */
function sentAcks(sent: string[]): Array<{ type: string; seq?: number; seqs?: number[] }> {
  return sent.map((text) => JSON.parse(text) as { type: string; seq?: number; seqs?: number[] }).filter((m) => m.type === 'ack' || m.type === 'acks');
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Connection', () => {
  it('keeps reconnecting when a status listener throws', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let failing = true;
    const h = harness(() => 0.5, null, undefined, {
      onStatus: () => {
        if (failing) throw new Error('a listener broke');
      },
    });
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().drop(1006, '');
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 1 });
    const sockets = h.sockets.length;
    failing = false;
    await vi.advanceTimersByTimeAsync(h.connection.status.nextRetryAt! - Date.now());
    expect(h.sockets.length).toBe(sockets + 1);
    expect(errors).toHaveBeenCalled();
  });

  it('offers the protocol and the token as subprotocols', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.latest().url).toBe('ws://127.0.0.1:41000');
    expect(h.latest().protocols).toEqual(['ferry.v1', 'ferry.token.secret-token']);
    expect(h.statuses.at(-1)?.state).toBe('connecting');
    h.latest().open();
    expect(h.statuses.at(-1)).toEqual({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null, queued: 0, polling: false });
  });

  it('says hello first, naming the state it holds so the engine can replay what was missed', async () => {
    const fresh = harness();
    fresh.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    fresh.latest().open();
    expect(JSON.parse(fresh.latest().sent[0] ?? '{}')).toEqual({ type: 'hello' });

    const resuming = harness(() => 0.5, { epoch: 'e1', lastSeq: 41 });
    resuming.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    resuming.latest().open();
    expect(JSON.parse(resuming.latest().sent[0] ?? '{}')).toEqual({ type: 'hello', epoch: 'e1', last_seq: 41 });
  });

  it('acknowledges every job that ended, repeats included, and nothing else', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive(welcome(1, 'e', [job(1)]));
    h.latest().receive(jobMessage(2, job(1, { status: 'uploading' })));
    h.latest().receive(jobMessage(3, job(1, { status: 'done' })));
    h.latest().receive(jobMessage(4, job(2, { status: 'failed', error: 'disk full' })));
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    // The engine sends one again when its acknowledgement did not arrive.
    h.latest().receive(jobMessage(3, job(1, { status: 'done' })));
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    expect(sentAcks(h.latest().sent)).toEqual([
      { type: 'acks', seqs: [3, 4] },
      { type: 'ack', seq: 3 },
    ]);
  });

  it('gathers the acknowledgements of many jobs ending at once into one message', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive(welcome(1, 'e', []));
    for (let n = 0; n < 200; n += 1) h.latest().receive(jobMessage(2 + n, job(1 + n, { status: 'done' })));
    expect(sentAcks(h.latest().sent)).toEqual([]);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const acks = sentAcks(h.latest().sent);
    expect(acks).toHaveLength(1);
    expect(acks[0]).toEqual({ type: 'acks', seqs: Array.from({ length: 200 }, (_, n) => 2 + n) });
  });

  it('drops acknowledgements still gathered when the socket closes, since the engine sends those events again', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = h.latest();
    first.open();
    first.receive(welcome(1, 'e', [job(1)]));
    first.receive(jobMessage(2, job(1, { status: 'done' })));
    first.drop(1006, '');
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    expect(sentAcks(first.sent)).toEqual([]);
  });

  it('acknowledges every change that ended a job, repeats included, and nothing else', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive(welcome(1, 'e', [job(1), job(2), job(3)]));
    h.latest().receive(changeMessage(2, change(1, { status: 'uploading' })));
    h.latest().receive(changeMessage(3, change(1, { status: 'done', remote: '/uploads/file-1.bin' })));
    h.latest().receive(changeMessage(4, change(2, { status: 'failed', error: 'disk full' })));
    h.latest().receive(changeMessage(5, change(3, { status: 'paused' })));
    h.latest().receive(totalsMessage(6, totals({ jobs: 3, done: 1, failed: 1, paused: 1 })));
    h.latest().receive(changeMessage(7, change(3, { status: 'cancelled' })));
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    h.latest().receive(changeMessage(3, change(1, { status: 'done', remote: '/uploads/file-1.bin' })));
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    expect(sentAcks(h.latest().sent)).toEqual([
      { type: 'acks', seqs: [3, 4, 7] },
      { type: 'ack', seq: 3 },
    ]);
    expect(h.messages).toHaveLength(8);
  });

  it('passes job, change and totals messages on, and drops malformed ones', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive(welcome(1, 'e', [job(1)]));
    // A job message no longer carries the totals.
    h.latest().receive({ type: 'job', seq: 2, job: job(2) });
    h.latest().receive({ type: 'change', seq: 3, job: change(1, { status: 'hashing', note: 'Slow disk' }) });
    h.latest().receive({ type: 'totals', seq: 4, totals: totals({ jobs: 2 }) });
    const invalid: unknown[] = [
      { type: 'job', seq: 5 },
      { type: 'job', seq: 5, job: null },
      { type: 'change', seq: 5 },
      { type: 'change', seq: 5, job: null },
      { type: 'change', seq: 5, job: { status: 'done', progress: progress(1) } },
      { type: 'change', seq: 5, job: { id: 1, progress: progress(1) } },
      { type: 'change', seq: 5, job: { id: 1, status: 'done' } },
      { type: 'change', job: change(1) },
      { type: 'totals', seq: 5 },
      { type: 'totals', seq: 5, totals: null },
      { type: 'totals', totals: totals() },
    ];
    for (const message of invalid) h.latest().receive(message);
    expect(h.messages.map((m) => m.type)).toEqual(['welcome', 'job', 'change', 'totals']);
    // A change that could not be read is not acknowledged either.
    expect(h.latest().sent.map((text) => JSON.parse(text) as { type: string }).filter((m) => m.type === 'ack')).toEqual([]);
  });

  it('passes a resume on, as a message that keeps the state', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive({ type: 'resume', seq: 9, epoch: 'e', from_seq: 7, limits: welcomeLimits() });
    expect(h.messages.map((m) => m.type)).toEqual(['resume']);
  });

  it('passes server messages on, and drops, counts and reports unreadable ones', async () => {
    const problems: string[] = [];
    const counts: number[] = [];
    const h = harness(undefined, null, undefined, {
      onInvalidMessage: (problem, dropped) => {
        problems.push(problem);
        counts.push(dropped);
      },
    });
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive(welcome(1, 'e', [job(1)]));
    h.latest().receive('not json');
    h.latest().receive({ type: 'progress' });
    // A progress message carries a list of figures: a single object is not one.
    h.latest().receive({ type: 'progress', seq: 2, progress: { job_id: 1 }, totals: totals() });
    h.latest().receive({ type: 'progress', seq: 2, progress: [progress(1, { current: 'x' as unknown as number })], totals: totals() });
    h.latest().receive({ type: 'surprise', seq: 2 });
    h.latest().receive({ type: 'progress', seq: 2, progress: [], totals: totals() });
    expect(h.messages.map((m) => m.type)).toEqual(['welcome', 'progress']);
    expect(h.connection.invalidMessages).toBe(5);
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    // Each problem names what was wrong, so the log and the toast can say it.
    expect(problems[0]).toContain('not valid JSON');
    expect(problems[1]).toContain('seq');
    expect(problems[3]).toContain('progress[0].current: expected a number, got "x"');
    expect(problems[4]).toContain('"surprise"');
  });

  it('resolves a command with its reply, matched by id', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();

    const answer = h.connection.send({ action: 'pause', job_id: 3 });
    const sent = JSON.parse(h.latest().sent[1] ?? '{}') as { type: string; id: string; command: unknown };
    expect(sent.type).toBe('command');
    expect(sent.command).toEqual({ action: 'pause', job_id: 3 });

    const result = { kind: 'job' as const, job: job(3, { status: 'paused' }) };
    h.latest().receive({ type: 'reply', seq: 5, id: sent.id, result, error: null });
    await expect(answer).resolves.toEqual(result);
    expect(h.messages).toHaveLength(0);
  });

  it('rejects a command the server refuses, with its words', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    const answer = h.connection.send({ action: 'retry', job_id: 9 });
    const { id } = JSON.parse(h.latest().sent[1] ?? '{}') as { id: string };
    h.latest().receive({ type: 'reply', seq: 5, id, result: null, error: { code: 'unknown_job', message: 'there is no job 9' } });
    await expect(answer).rejects.toMatchObject({ code: 'unknown_job', message: 'there is no job 9' });
  });

  it('reconnects with growing, jittered delays and counts attempts', async () => {
    const h = harness(() => 0.5);
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().drop(1001, '');

    expect(h.statuses.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1, lastError: 'Ferry is shutting down (code 1001)' });
    // Attempt 1 waits half of 500 ms with this random source.
    await vi.advanceTimersByTimeAsync(249);
    expect(h.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.sockets).toHaveLength(2);

    h.latest().drop();
    expect(h.statuses.at(-1)?.attempt).toBe(2);
    await vi.advanceTimersByTimeAsync(499);
    expect(h.sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.sockets).toHaveLength(3);

    h.latest().open();
    expect(h.statuses.at(-1)).toEqual({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null, queued: 0, polling: false });
    h.latest().drop();
    expect(h.statuses.at(-1)?.attempt).toBe(1);
  });

  it('says when the waiting attempt starts, on its own clock, and nothing once it starts or the socket opens', async () => {
    let clock = 1_000_000;
    const h = harness(() => 0.5, null, () => clock);
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    expect(h.connection.status.nextRetryAt).toBeNull();

    clock = 2_000_000;
    h.latest().drop();
    // Attempt 1 waits half of 500 ms with this random source, attempt 2 half of 1000 ms.
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 1, nextRetryAt: 2_000_250 });
    await vi.advanceTimersByTimeAsync(250);
    expect(h.sockets).toHaveLength(2);
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 1, nextRetryAt: null });

    clock = 3_000_000;
    h.latest().drop();
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 2, nextRetryAt: 3_000_500 });
    await vi.advanceTimersByTimeAsync(500);
    h.latest().open();
    expect(h.connection.status).toEqual({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null, queued: 0, polling: false });
  });

  it('retries at once on retryNow, as the attempt that was waiting, and drops the scheduled one', async () => {
    const h = harness(() => 0.5);
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().drop();
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 1 });

    h.connection.retryNow();
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 1, nextRetryAt: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sockets).toHaveLength(2);

    // Past the moment the scheduled attempt would have started.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.sockets).toHaveLength(2);
    // A second call while the attempt is under way starts no other.
    h.connection.retryNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sockets).toHaveLength(2);

    h.latest().drop();
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 2 });
    h.connection.retryNow();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    expect(h.sockets).toHaveLength(3);
    expect(h.connection.status.state).toBe('open');
  });

  it('ignores retryNow while open, and after stop()', async () => {
    const h = harness(() => 0.5);
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    const reported = h.statuses.length;
    h.connection.retryNow();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
    expect(h.statuses).toHaveLength(reported);
    expect(h.connection.status.state).toBe('open');

    h.latest().drop();
    h.connection.stop();
    h.connection.retryNow();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
    expect(h.connection.status.state).toBe('offline');
  });

  it('gives up on a handshake that never finishes', async () => {
    const h = harness(() => 0);
    h.connection.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.sockets[0]?.closedWith).toBeDefined();
    expect(h.statuses.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1, lastError: 'the engine did not answer in time' });
    await vi.advanceTimersByTimeAsync(1);
    expect(h.sockets).toHaveLength(2);
  });

  it('retries when the connection details cannot be had', async () => {
    let calls = 0;
    const statuses: ConnectionStatus[] = [];
    const connection = new Connection({
      getInfo: () => {
        calls += 1;
        return Promise.reject(new Error('the command is not registered'));
      },
      onMessage: () => undefined,
      onStatus: (status) => statuses.push(status),
      createSocket: () => {
        throw new Error('no socket expected');
      },
      random: () => 0.5,
    });
    connection.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(statuses.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1 });
    expect(statuses.at(-1)?.lastError).toContain('the command is not registered');
    await vi.advanceTimersByTimeAsync(250);
    expect(calls).toBe(2);
    connection.stop();
  });

  it('stops for good on stop()', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.connection.stop();
    expect(h.sockets[0]?.closedWith).toBe(1000);
    expect(h.statuses.at(-1)?.state).toBe('offline');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
  });
});

const paused: CommandResult = { kind: 'job', job: job(3, { status: 'paused' }) };

/** What a promise settled with, read without awaiting it. */
function track<T>(promise: Promise<T>): { resolved: T[]; rejected: unknown[] } {
  const seen = { resolved: [] as T[], rejected: [] as unknown[] };
  promise.then(
    (value) => seen.resolved.push(value),
    (error: unknown) => seen.rejected.push(error),
  );
  return seen;
}

async function started(more: Partial<ConnectionOptions> = {}): Promise<Harness> {
  const h = harness(() => 0.5, null, undefined, more);
  h.connection.start();
  await vi.advanceTimersByTimeAsync(0);
  return h;
}

/** Opens the latest socket and has the engine greet it. */
function greet(socket: FakeSocket, seq = 1): void {
  socket.open();
  socket.receive(welcome(seq, 'e', []));
}

/** Three sockets in a row close before opening; attempts wait 250, 500 and 1000 ms. */
async function failThreeAttempts(h: Harness): Promise<void> {
  h.connection.start();
  await vi.advanceTimersByTimeAsync(0);
  h.latest().drop();
  await vi.advanceTimersByTimeAsync(250);
  h.latest().drop();
  await vi.advanceTimersByTimeAsync(500);
  h.latest().drop();
}

function queueOf(id: number): Snapshot {
  return { jobs: [job(id)], totals: totals({ jobs: 1, queued: 1 }) };
}

describe('Connection command queue', () => {
  it('rejects a command before start, since nothing would ever send it', async () => {
    const h = harness();
    await expect(h.connection.send({ action: 'cancel', job_id: 1 })).rejects.toMatchObject({ code: 'not_connected' });
    expect(h.connection.status.queued).toBe(0);
  });

  it('keeps a command issued before the socket opens, and sends it with its id once the engine greets the socket', async () => {
    const h = await started();
    const answer = track(h.connection.send({ action: 'pause', job_id: 3 }));
    expect(h.connection.status).toMatchObject({ state: 'connecting', queued: 1 });
    expect(h.statuses.at(-1)?.queued).toBe(1);

    h.latest().open();
    // The hello goes alone: the queued command waits for the engine to know this client.
    expect(h.latest().messages()).toEqual([{ type: 'hello' }]);
    h.latest().receive(welcome(1, 'e', []));
    const sent = h.latest().commands();
    expect(sent).toEqual([{ id: expect.stringMatching(/^[0-9a-z]+-1$/) as unknown, command: { action: 'pause', job_id: 3 } }]);
    // Sent but not answered still counts as waiting.
    expect(h.connection.status.queued).toBe(1);

    h.latest().receive({ type: 'reply', seq: 2, id: sent[0]?.id, result: paused, error: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(answer).toEqual({ resolved: [paused], rejected: [] });
    expect(h.statuses.at(-1)).toMatchObject({ state: 'open', queued: 0 });
  });

  it('sends waiting commands in the order issued, ahead of one issued between open and welcome', async () => {
    const h = await started();
    greet(h.latest());
    h.latest().drop();
    void h.connection.send({ action: 'pause', job_id: 1 });
    void h.connection.send({ action: 'cancel', job_id: 2 });
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', queued: 2 });

    await vi.advanceTimersByTimeAsync(250);
    h.latest().open();
    void h.connection.send({ action: 'retry', job_id: 3 });
    expect(h.latest().commands()).toEqual([]);
    h.latest().receive({ type: 'resume', seq: 9, epoch: 'e', from_seq: 1, limits: welcomeLimits() });

    const sent = h.latest().commands();
    expect(sent.map((entry) => entry.command)).toEqual([
      { action: 'pause', job_id: 1 },
      { action: 'cancel', job_id: 2 },
      { action: 'retry', job_id: 3 },
    ]);
    expect(sent.map((entry) => entry.id.split('-')[1])).toEqual(['1', '2', '3']);
    expect(h.connection.status.queued).toBe(3);
  });

  it('sends a command cut off by a lost connection again, with the same id, and resolves it once', async () => {
    const h = await started();
    greet(h.latest());
    const answer = track(h.connection.send({ action: 'pause', job_id: 3 }));
    const [first] = h.latest().commands();
    h.latest().drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(answer).toEqual({ resolved: [], rejected: [] });
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', queued: 1 });

    await vi.advanceTimersByTimeAsync(250);
    greet(h.latest(), 2);
    expect(h.latest().commands()).toEqual([first]);

    // The engine answers a repeated id with the reply it gave before.
    const reply = { type: 'reply', seq: 3, id: first?.id, result: paused, error: null };
    h.latest().receive(reply);
    h.latest().receive(reply);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(answer).toEqual({ resolved: [paused], rejected: [] });
    expect(h.latest().commands()).toHaveLength(1);
    expect(h.connection.status.queued).toBe(0);
  });

  it('sends an unanswered command again with the same id when its reply is late, and gives up after three sends', async () => {
    const h = await started({ commandTimeoutMs: 1_000 });
    greet(h.latest());
    const answer = track(h.connection.send({ action: 'cancel', job_id: 4 }));
    const [first] = h.latest().commands();

    await vi.advanceTimersByTimeAsync(999);
    expect(h.latest().commands()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.latest().commands()).toEqual([first, first]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.latest().commands()).toEqual([first, first, first]);
    expect(answer).toEqual({ resolved: [], rejected: [] });

    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.latest().commands()).toHaveLength(3);
    expect(answer.resolved).toEqual([]);
    expect(answer.rejected).toHaveLength(1);
    expect(answer.rejected[0]).toBeInstanceOf(CommandError);
    expect(answer.rejected[0]).toMatchObject({
      code: 'timeout',
      message: 'Ferry did not answer the command after 3 tries; check the job and try again.',
    });
    expect(h.statuses.at(-1)).toMatchObject({ state: 'open', queued: 0 });
  });

  it('gives up on a command after three sends each cut off by a lost connection', async () => {
    const h = await started();
    greet(h.latest());
    const answer = track(h.connection.send({ action: 'pause', job_id: 5 }));
    const [first] = h.latest().commands();

    h.latest().drop();
    await vi.advanceTimersByTimeAsync(250);
    greet(h.latest(), 2);
    h.latest().drop();
    await vi.advanceTimersByTimeAsync(500);
    greet(h.latest(), 3);
    expect(h.sockets.map((socket) => socket.commands())).toEqual([[first], [first], [first]]);
    expect(answer.rejected).toEqual([]);

    h.latest().drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(answer.rejected[0]).toMatchObject({ code: 'connection_lost', message: expect.stringContaining('after 3 tries') as unknown });
    expect(h.statuses.at(-1)).toMatchObject({ state: 'reconnecting', queued: 0 });
  });

  it(`keeps at most ${MAX_QUEUED_COMMANDS} commands waiting and refuses the next, saying the queue is full`, async () => {
    const h = await started();
    for (let jobId = 0; jobId < MAX_QUEUED_COMMANDS; jobId++) void h.connection.send({ action: 'pause', job_id: jobId });
    expect(h.connection.status.queued).toBe(MAX_QUEUED_COMMANDS);

    await expect(h.connection.send({ action: 'pause', job_id: 999 })).rejects.toMatchObject({
      code: 'not_connected',
      message: expect.stringContaining('queue of 100 commands waiting for the connection is full') as unknown,
    });
    expect(h.connection.status.queued).toBe(MAX_QUEUED_COMMANDS);

    greet(h.latest());
    const sent = h.latest().commands().map((entry) => (entry.command as { job_id: number }).job_id);
    expect(sent).toEqual(Array.from({ length: MAX_QUEUED_COMMANDS }, (_, jobId) => jobId));
  });

  it('rejects every waiting command on stop, sent or not', async () => {
    const h = await started();
    greet(h.latest());
    const sentOnce = h.connection.send({ action: 'pause', job_id: 1 });
    h.latest().drop();
    const neverSent = h.connection.send({ action: 'pause', job_id: 2 });
    expect(h.connection.status.queued).toBe(2);

    h.connection.stop();
    await expect(sentOnce).rejects.toMatchObject({ code: 'connection_lost' });
    await expect(neverSent).rejects.toMatchObject({ code: 'not_connected' });
    expect(h.statuses.at(-1)).toMatchObject({ state: 'offline', queued: 0 });
  });
});

describe('Connection polling fallback', () => {
  it('polls the queue every second from the third failed attempt in a row until a socket opens', async () => {
    const polled: Snapshot[] = [];
    let polls = 0;
    const latePoll: { answer: ((snapshot: Snapshot) => void) | null } = { answer: null };
    const h = harness(() => 0.5, null, undefined, {
      pollSnapshot: () => {
        polls += 1;
        if (polls < 3) return Promise.resolve(queueOf(polls));
        return new Promise<Snapshot>((resolve) => (latePoll.answer = resolve));
      },
      onSnapshot: (snapshot) => polled.push(snapshot),
    });

    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().drop();
    await vi.advanceTimersByTimeAsync(250);
    h.latest().drop();
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 2, polling: false });
    await vi.advanceTimersByTimeAsync(500);
    expect(polls).toBe(0);

    h.latest().drop();
    expect(h.statuses.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 3, polling: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(polled).toEqual([queueOf(1)]);
    await vi.advanceTimersByTimeAsync(999);
    expect(polls).toBe(1);
    // Attempt 4 starts with this poll.
    await vi.advanceTimersByTimeAsync(1);
    expect(polled).toEqual([queueOf(1), queueOf(2)]);
    expect(h.sockets).toHaveLength(4);
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 3, polling: true });

    await vi.advanceTimersByTimeAsync(1_000);
    expect(polls).toBe(3);
    h.latest().open();
    expect(h.statuses.at(-1)).toMatchObject({ state: 'open', polling: false });
    // A poll answered after the socket opened would overwrite what the socket brings.
    latePoll.answer?.(queueOf(3));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(polled).toHaveLength(2);
    expect(polls).toBe(3);
  });

  it('counts and reports a failed poll, never throws, and keeps polling until stopped', async () => {
    const failures: [string, number][] = [];
    const polled: Snapshot[] = [];
    let polls = 0;
    const h = harness(() => 0.5, null, undefined, {
      pollSnapshot: () => {
        polls += 1;
        if (polls === 1) return Promise.reject(new Error('the engine is busy'));
        if (polls === 2) throw new Error('the command is not registered');
        return Promise.resolve(queueOf(polls));
      },
      onSnapshot: (snapshot) => polled.push(snapshot),
      onPollFailed: (error, failedPolls) => failures.push([error instanceof Error ? error.message : String(error), failedPolls]),
    });
    await failThreeAttempts(h);

    await vi.advanceTimersByTimeAsync(0);
    expect(failures).toEqual([['the engine is busy', 1]]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(failures).toEqual([
      ['the engine is busy', 1],
      ['the command is not registered', 2],
    ]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(polled).toEqual([queueOf(3)]);
    expect(h.connection.failedPolls).toBe(2);
    expect(h.connection.status.polling).toBe(true);

    h.connection.stop();
    expect(h.statuses.at(-1)).toMatchObject({ state: 'offline', polling: false });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(polls).toBe(3);
  });

  it('does not poll when no way to poll was given', async () => {
    const h = harness();
    await failThreeAttempts(h);
    expect(h.connection.status).toMatchObject({ state: 'reconnecting', attempt: 3, polling: false });
  });
});

describe('describeClose', () => {
  it('prefers the reason the server gave', () => {
    expect(describeClose(1013, 'too many connections; try again later')).toBe('too many connections; try again later (code 1013)');
    expect(describeClose(4429, '')).toBe('too many messages were sent too quickly (code 4429)');
    expect(describeClose(3999, '')).toBe('the connection closed (code 3999)');
  });
});
