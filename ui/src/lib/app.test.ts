// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionInfo, Snapshot } from './generated/protocol';
import { change, changeMessage, job, jobMessage, limits, progress, progressMessage, totals, welcome } from './testing/fixtures';
import { ManualFrames } from './testing/frames';
import { FakeSocket } from './testing/socket';

const notice = vi.hoisted(() => ({ text: null as string | null, asked: null as Promise<string | null> | null }));
// Unanswered unless a test says otherwise, so no socket is ever opened.
const engine = vi.hoisted(() => ({
  connectionInfo: (): Promise<ConnectionInfo> => new Promise(() => undefined),
  snapshot: (): Promise<Snapshot> => new Promise(() => undefined),
}));

vi.mock('./tauri', () => ({
  inTauri: () => true,
  connectionInfo: () => engine.connectionInfo(),
  destinationDir: () => Promise.resolve('/home/ana/Ferry Uploads'),
  startupNotice: () => (notice.asked = Promise.resolve(notice.text)),
  enqueuePaths: () => new Promise(() => undefined),
  errorText: (error: unknown) => String(error),
  onDragHover: () => Promise.resolve(() => undefined),
  pickFiles: () => Promise.resolve([]),
  pickFolders: () => Promise.resolve([]),
  snapshot: () => engine.snapshot(),
}));

const { FerryApp } = await import('./app.svelte');

describe('FerryApp start-up', () => {
  afterEach(() => {
    notice.text = null;
    notice.asked = null;
  });

  it('shows why uploads do not go to the default destination, and keeps it up', async () => {
    notice.text = 'The default destination `studio` cannot be used: the system keyring is unavailable.';
    const app = new FerryApp(true);
    app.start();
    await vi.waitFor(() => expect(app.toasts.items).toHaveLength(1));
    const [toast] = app.toasts.items;
    expect(toast?.kind).toBe('error');
    expect(toast?.title).toBe('Not uploading to the default destination');
    expect(toast?.message).toContain('`studio`');
    app.stop();
  });

  it('shows nothing when the chosen destination is the one the user set', async () => {
    const app = new FerryApp(true);
    app.start();
    // The app's handler was registered first, so it has run once this await returns.
    await notice.asked;
    expect(app.toasts.items).toHaveLength(0);
    app.stop();
  });
});

describe('FerryApp reconnection', () => {
  let asked = 0;

  function unreachableEngine(): void {
    asked = 0;
    engine.connectionInfo = () => {
      asked += 1;
      return Promise.reject(new Error('the engine is not running'));
    };
  }

  /** A started app whose first attempt failed; attempt 1 waits 250 ms, attempt 2 500 ms. */
  async function startedAgainstUnreachableEngine(): Promise<InstanceType<typeof FerryApp>> {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    unreachableEngine();
    const app = new FerryApp(true);
    app.start();
    await vi.advanceTimersByTimeAsync(0);
    return app;
  }

  afterEach(() => {
    engine.connectionInfo = () => new Promise(() => undefined);
    vi.useRealTimers();
  });

  it('retries at once when the window regains focus while waiting to reconnect', async () => {
    const app = await startedAgainstUnreachableEngine();
    expect(asked).toBe(1);
    expect(app.connection).toMatchObject({ state: 'reconnecting', attempt: 1, nextRetryAt: Date.now() + 250 });

    window.dispatchEvent(new Event('focus'));
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toBe(2);
    expect(app.connection).toMatchObject({ state: 'reconnecting', attempt: 2, nextRetryAt: Date.now() + 500 });

    app.stop();
    window.dispatchEvent(new Event('focus'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(asked).toBe(2);
  });

  it('does not raise the dismissed connection toast again when the first attempt starts early', async () => {
    const app = await startedAgainstUnreachableEngine();
    const toast = app.toasts.byKey('connection');
    expect(toast?.title).toBe('Could not connect to Ferry');
    if (toast) app.toasts.dismiss(toast.id);

    app.retryNow();
    expect(app.connection).toMatchObject({ state: 'reconnecting', attempt: 1, nextRetryAt: null });
    expect(app.toasts.byKey('connection')).toBeUndefined();
    app.stop();
  });

  it('keeps the connection failure in the notifications after its toast is dismissed', async () => {
    const app = await startedAgainstUnreachableEngine();
    const toast = app.toasts.byKey('connection');
    if (toast) app.toasts.dismiss(toast.id);
    expect(app.notifications.entries).toEqual([
      expect.objectContaining({
        kind: 'connection',
        title: 'Could not connect to Ferry',
        message: "Could not get the engine's address: the engine is not running. Retrying automatically.",
        jobId: null,
      }),
    ]);
    expect(app.notifications.unread).toBe(1);
    app.stop();
  });
});

describe('FerryApp notifications', () => {
  it('keeps a refused command in the notifications', async () => {
    const app = new FerryApp(true);
    await app.act('pause', 3);
    expect(app.toasts.items.map((toast) => toast.title)).toEqual(['Could not pause “job 3”']);
    expect(app.notifications.entries).toEqual([
      expect.objectContaining({ kind: 'command', title: 'Could not pause “job 3”', message: 'CommandError: Not connected to Ferry.', jobId: null }),
    ]);
  });

  it('keeps each failed upload, newest first, and leaves out notices that are not errors', () => {
    const frames = new ManualFrames();
    const app = new FerryApp(true, frames.schedule);
    app.receive(welcome(1, 'e', [job(1, { status: 'uploading' }), job(2, { status: 'uploading' })]));
    app.receive(changeMessage(2, change(1, { status: 'failed', error: 'connection refused' })));
    app.receive(changeMessage(3, change(2, { status: 'failed', error: 'disk full' })));
    frames.next();
    app.toasts.show({ kind: 'success', title: 'Added 1 file to the queue' });

    expect(app.toasts.byKey('job-failed')?.title).toBe('2 uploads failed');
    expect(app.notifications.entries).toEqual([
      expect.objectContaining({ kind: 'job-failed', title: 'Upload failed: file-2.bin', message: 'Disk full.', jobId: 2 }),
      expect.objectContaining({ kind: 'job-failed', title: 'Upload failed: file-1.bin', message: 'Connection refused.', jobId: 1 }),
    ]);
    expect(app.notifications.unread).toBe(2);
  });
});

/** The socket opened last. */
function newest(sockets: readonly FakeSocket[]): FakeSocket {
  const socket = sockets.at(-1);
  if (!socket) throw new Error('no socket was opened');
  return socket;
}

/** Points the app at an engine whose sockets are fakes, kept in the list returned. */
function engineWithFakeSockets(): FakeSocket[] {
  const sockets: FakeSocket[] = [];
  engine.connectionInfo = () => Promise.resolve({ url: 'ws://127.0.0.1:41000', token: 'secret-token', pid: 42 });
  vi.stubGlobal(
    'WebSocket',
    class extends FakeSocket {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    },
  );
  return sockets;
}

describe('FerryApp with the engine gone', () => {
  let sockets: FakeSocket[] = [];
  let polls = 0;

  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    polls = 0;
    sockets = engineWithFakeSockets();
  });

  afterEach(() => {
    engine.connectionInfo = () => new Promise(() => undefined);
    engine.snapshot = () => new Promise(() => undefined);
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  const latest = (): FakeSocket => newest(sockets);

  /** A started app holding the queue from a welcome of epoch `e` at seq 5. */
  async function welcomedApp(): Promise<InstanceType<typeof FerryApp>> {
    const app = new FerryApp(true);
    app.start();
    await vi.advanceTimersByTimeAsync(0);
    latest().open();
    latest().receive(welcome(5, 'e', [job(1, { status: 'uploading' })]));
    return app;
  }

  function greetAgain(): void {
    latest().open();
    latest().receive({ type: 'resume', seq: 5, epoch: 'e', from_seq: 5, limits });
  }

  it('shows the polled queue after three failed attempts, then asks the next socket for a whole welcome', async () => {
    engine.snapshot = () => {
      polls += 1;
      return Promise.resolve({ jobs: [job(1, { status: 'done' }), job(2)], totals: totals({ jobs: 2, done: 1, queued: 1 }) });
    };
    const app = await welcomedApp();
    latest().drop();
    await vi.advanceTimersByTimeAsync(250);
    latest().drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(polls).toBe(0);
    latest().drop();
    expect(app.connection).toMatchObject({ state: 'reconnecting', attempt: 3, polling: true });

    await vi.advanceTimersByTimeAsync(0);
    expect(polls).toBe(1);
    expect(app.queue.jobs.map((view) => [view.id, view.status])).toEqual([
      [1, 'done'],
      [2, 'queued'],
    ]);
    expect(app.queue.totals.done).toBe(1);
    expect(app.loaded).toBe(true);

    // Attempt 4 starts a second after attempt 3 failed, with the second poll.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(polls).toBe(2);
    latest().open();
    expect(latest().messages()).toEqual([{ type: 'hello' }]);
    expect(app.connection.polling).toBe(false);

    latest().receive(welcome(1, 'e', [job(1, { status: 'done' }), job(2, { status: 'hashing' })]));
    latest().receive(progressMessage(2, progress(2, { status: 'hashing', current: 5, total: 10 })));
    vi.advanceTimersToNextFrame();
    expect(app.queue).toMatchObject({ epoch: 'e', lastSeq: 2, polled: false });
    expect(app.queue.jobs[1]?.progress.current).toBe(5);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(polls).toBe(2);
    app.stop();
  });

  it('keeps a job command issued while reconnecting and sends it once the engine is back', async () => {
    const app = await welcomedApp();
    latest().drop();
    expect(app.online).toBe(false);
    expect(app.canSend).toBe(true);

    const acting = app.act('pause', 1);
    expect(app.busy.has(1)).toBe(true);
    expect(app.connection.queued).toBe(1);

    await vi.advanceTimersByTimeAsync(250);
    greetAgain();
    expect(latest().messages()[0]).toEqual({ type: 'hello', epoch: 'e', last_seq: 5 });
    const [sent] = latest().commands();
    expect(sent?.command).toEqual({ action: 'pause', job_id: 1 });
    latest().receive({ type: 'reply', seq: 6, id: sent?.id, result: { kind: 'job', job: job(1, { status: 'paused' }) }, error: null });
    await acting;

    expect(app.busy.has(1)).toBe(false);
    expect(app.connection.queued).toBe(0);
    expect(app.toasts.items.filter((toast) => toast.title.startsWith('Could not'))).toEqual([]);
    app.stop();
  });

  it('says it is connected again once, not each time the count of waiting commands changes', async () => {
    const app = await welcomedApp();
    latest().drop();
    await vi.advanceTimersByTimeAsync(250);
    greetAgain();
    const connected = app.toasts.byKey('connection');
    expect(connected?.title).toBe('Connected to Ferry again');

    const acting = app.act('resume', 1);
    expect(app.connection.queued).toBe(1);
    const [sent] = latest().commands();
    latest().receive({ type: 'reply', seq: 6, id: sent?.id, result: { kind: 'job', job: job(1) }, error: null });
    await acting;
    expect(app.connection.queued).toBe(0);
    expect(app.toasts.byKey('connection')?.id).toBe(connected?.id);
    app.stop();
  });
});

describe('FerryApp failure toast', () => {
  let sockets: FakeSocket[] = [];

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = engineWithFakeSockets();
  });

  afterEach(() => {
    engine.connectionInfo = () => new Promise(() => undefined);
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  /** A started app, connected, whose queue holds `jobs`. */
  async function connectedApp(jobs: ReturnType<typeof job>[]): Promise<{ app: InstanceType<typeof FerryApp>; socket: FakeSocket }> {
    const app = new FerryApp(true);
    app.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = sockets.at(-1);
    if (!socket) throw new Error('no socket was opened');
    socket.open();
    socket.receive(welcome(1, 'e', jobs));
    return { app, socket };
  }

  function failureToastAction(app: InstanceType<typeof FerryApp>) {
    const toast = app.toasts.byKey('job-failed');
    const [action] = toast?.actions ?? [];
    if (!toast || !action) throw new Error('no failure toast with an action');
    return { toast, action };
  }

  it('retries the failed upload from its toast, and takes the toast away', async () => {
    const { app, socket } = await connectedApp([job(1, { status: 'uploading' })]);
    socket.receive(changeMessage(2, change(1, { status: 'failed', error: 'connection refused' })));
    vi.advanceTimersToNextFrame();
    const { toast, action } = failureToastAction(app);
    expect(toast.title).toBe('Upload failed: file-1.bin');
    expect(action.label).toBe('Retry');

    app.toasts.runAction(toast.id, action);
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.commands().map((sent) => sent.command)).toEqual([{ action: 'retry', job_id: 1 }]);
    expect(app.toasts.byKey('job-failed')).toBeUndefined();
    app.stop();
  });

  it('retries every upload of the toast that is still failed', async () => {
    const { app, socket } = await connectedApp([1, 2, 3].map((id) => job(id, { status: 'uploading' })));
    socket.receive(changeMessage(2, change(1, { status: 'failed', error: 'connection refused' })));
    socket.receive(changeMessage(3, change(2, { status: 'failed', error: 'disk full' })));
    socket.receive(changeMessage(4, change(3, { status: 'failed', error: 'disk full' })));
    // Retried from its row meanwhile: asking again would only be refused.
    socket.receive(jobMessage(5, job(3, { status: 'queued' })));
    vi.advanceTimersToNextFrame();
    const { toast, action } = failureToastAction(app);
    expect(toast.title).toBe('3 uploads failed');
    expect(action.label).toBe('Retry all');

    app.toasts.runAction(toast.id, action);
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.commands().map((sent) => sent.command)).toEqual([
      { action: 'retry', job_id: 1 },
      { action: 'retry', job_id: 2 },
    ]);
    expect(app.toasts.byKey('job-failed')).toBeUndefined();
    app.stop();
  });
});

describe('FerryApp updates waiting for a frame', () => {
  let sockets: FakeSocket[] = [];

  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    sockets = engineWithFakeSockets();
  });

  afterEach(() => {
    engine.connectionInfo = () => new Promise(() => undefined);
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  const latest = (): FakeSocket => newest(sockets);

  /** A started app on frames the test runs, holding job 1, uploading, from a welcome at seq 5. */
  async function welcomedApp(frames: ManualFrames): Promise<InstanceType<typeof FerryApp>> {
    const app = new FerryApp(true, frames.schedule);
    app.start();
    await vi.advanceTimersByTimeAsync(0);
    latest().open();
    latest().receive(welcome(5, 'e', [job(1, { status: 'uploading' })]));
    return app;
  }

  it('names in the next hello the updates received, even those no frame has applied yet', async () => {
    const frames = new ManualFrames();
    const app = await welcomedApp(frames);
    latest().receive(progressMessage(6, progress(1, { status: 'uploading', current: 5, total: 10 })));
    latest().drop();
    await vi.advanceTimersByTimeAsync(250);
    latest().open();
    expect(latest().messages()[0]).toEqual({ type: 'hello', epoch: 'e', last_seq: 6 });
    expect(app.queue.jobs[0]?.progress.current).toBe(5);
    app.stop();
  });

  it("shows the job as the engine last said when the command's reply comes", async () => {
    const frames = new ManualFrames();
    const app = await welcomedApp(frames);
    const acting = app.act('pause', 1);
    const [sent] = latest().commands();
    latest().receive(changeMessage(6, change(1, { status: 'paused' })));
    latest().receive({ type: 'reply', seq: 7, id: sent?.id, result: { kind: 'job', job: job(1, { status: 'paused' }) }, error: null });
    await acting;
    expect(app.busy.has(1)).toBe(false);
    expect(app.queue.jobs[0]?.status).toBe('paused');
    expect(frames.pending).toBe(0);
    app.stop();
  });
});
