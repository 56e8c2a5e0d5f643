import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as ConnectionModule from './connection';

const notice = vi.hoisted(() => ({ text: null as string | null, asked: null as Promise<string | null> | null }));

vi.mock('./tauri', () => ({
  inTauri: () => true,
  connectionInfo: () => new Promise(() => undefined),
  destinationDir: () => Promise.resolve('/home/ana/Ferry Uploads'),
  startupNotice: () => (notice.asked = Promise.resolve(notice.text)),
  enqueuePaths: () => new Promise(() => undefined),
  errorText: (error: unknown) => String(error),
  onDragHover: () => Promise.resolve(() => undefined),
  pickFiles: () => Promise.resolve([]),
  pickFolders: () => Promise.resolve([]),
}));

vi.mock('./connection', async (original) => ({
  ...(await original<typeof ConnectionModule>()),
  // No socket in these tests: the start-up calls are what they are about.
  Connection: class {
    start(): void {}
    stop(): void {}
  },
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
