import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection, describeClose, type ConnectionStatus, type ResumePoint, type SocketLike } from './connection';
import type { ServerMessage } from './generated/protocol';
import { change, changeMessage, job, jobMessage, progress, totals, totalsMessage, welcome } from './testing/fixtures';

class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  readonly sent: string[] = [];
  closedWith: number | undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number): void {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  receive(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) } as MessageEvent);
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

interface Harness {
  connection: Connection;
  sockets: FakeSocket[];
  statuses: ConnectionStatus[];
  messages: ServerMessage[];
  latest(): FakeSocket;
}

function harness(random: () => number = () => 0.5, resume: ResumePoint | null = null, now?: () => number): Harness {
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

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Connection', () => {
  it('offers the protocol and the token as subprotocols', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.latest().url).toBe('ws://127.0.0.1:41000');
    expect(h.latest().protocols).toEqual(['ferry.v1', 'ferry.token.secret-token']);
    expect(h.statuses.at(-1)?.state).toBe('connecting');
    h.latest().open();
    expect(h.statuses.at(-1)).toEqual({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null });
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
    h.latest().receive(jobMessage(3, job(1, { status: 'done' })));
    const acks = h.latest().sent.map((text) => JSON.parse(text) as { type: string; seq?: number }).filter((m) => m.type === 'ack');
    expect(acks).toEqual([
      { type: 'ack', seq: 3 },
      { type: 'ack', seq: 4 },
      { type: 'ack', seq: 3 },
    ]);
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
    h.latest().receive(changeMessage(3, change(1, { status: 'done', remote: '/uploads/file-1.bin' })));
    const acks = h.latest().sent.map((text) => JSON.parse(text) as { type: string; seq?: number }).filter((m) => m.type === 'ack');
    expect(acks).toEqual([
      { type: 'ack', seq: 3 },
      { type: 'ack', seq: 4 },
      { type: 'ack', seq: 7 },
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

  it('passes server messages on, and drops unreadable ones', async () => {
    const h = harness();
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    h.latest().receive(welcome(1, 'e', [job(1)]));
    h.latest().receive('not json');
    h.latest().receive({ type: 'progress' });
    // A progress message carries a list of figures: a single object is not one.
    h.latest().receive({ type: 'progress', seq: 2, progress: { job_id: 1 }, totals: {} });
    h.latest().receive({ type: 'progress', seq: 2, progress: [], totals: {} });
    expect(h.messages).toHaveLength(2);
    expect(h.messages[1]?.type).toBe('progress');
    expect(h.messages[0]?.type).toBe('welcome');
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

  it('rejects commands at once while not connected, and pending ones when the socket drops', async () => {
    const h = harness();
    await expect(h.connection.send({ action: 'cancel', job_id: 1 })).rejects.toMatchObject({ code: 'not_connected' });
    h.connection.start();
    await vi.advanceTimersByTimeAsync(0);
    h.latest().open();
    const answer = h.connection.send({ action: 'cancel', job_id: 1 });
    h.latest().drop();
    await expect(answer).rejects.toMatchObject({ code: 'connection_lost' });
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
    expect(h.statuses.at(-1)).toEqual({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null });
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
    expect(h.connection.status).toEqual({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null });
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

describe('describeClose', () => {
  it('prefers the reason the server gave', () => {
    expect(describeClose(1013, 'too many connections; try again later')).toBe('too many connections; try again later (code 1013)');
    expect(describeClose(4429, '')).toBe('too many messages were sent too quickly (code 4429)');
    expect(describeClose(3999, '')).toBe('the connection closed (code 3999)');
  });
});
