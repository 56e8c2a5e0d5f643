// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionInfo } from './generated/protocol';

const notice = vi.hoisted(() => ({ text: null as string | null, asked: null as Promise<string | null> | null }));
// Unanswered unless a test says otherwise, so no socket is ever opened.
const engine = vi.hoisted(() => ({ connectionInfo: (): Promise<ConnectionInfo> => new Promise(() => undefined) }));

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
});
