import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TOASTS, Toasts } from './toasts.svelte';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Toasts', () => {
  it('hides notices after 8 s and keeps errors until dismissed', () => {
    const toasts = new Toasts();
    toasts.show({ kind: 'success', title: 'Added 2 files to the queue' });
    const error = toasts.show({ kind: 'error', title: 'Upload failed: a.txt', message: 'Disk full.' });
    vi.advanceTimersByTime(7_999);
    expect(toasts.items).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(toasts.items.map((toast) => toast.title)).toEqual(['Upload failed: a.txt']);
    vi.advanceTimersByTime(60_000);
    expect(toasts.items).toHaveLength(1);
    toasts.dismiss(error);
    expect(toasts.items).toHaveLength(0);
  });

  it('replaces a toast with the same key', () => {
    const toasts = new Toasts();
    toasts.show({ kind: 'error', key: 'connection', title: 'Lost the connection to Ferry' });
    toasts.show({ kind: 'success', key: 'connection', title: 'Connected to Ferry again' });
    expect(toasts.items.map((toast) => toast.title)).toEqual(['Connected to Ferry again']);
    vi.advanceTimersByTime(8_000);
    expect(toasts.items).toHaveLength(0);
  });

  it('keeps a held toast up and lets it go after release', () => {
    const toasts = new Toasts();
    const id = toasts.show({ kind: 'warning', title: 'Skipped 1 path' });
    vi.advanceTimersByTime(5_000);
    toasts.hold(id);
    vi.advanceTimersByTime(20_000);
    expect(toasts.items).toHaveLength(1);
    toasts.release(id);
    vi.advanceTimersByTime(8_000);
    expect(toasts.items).toHaveLength(0);
  });

  it('drops the oldest notice, not an error, when too many pile up', () => {
    const toasts = new Toasts();
    toasts.show({ kind: 'error', title: 'first error' });
    toasts.show({ kind: 'info', title: 'old notice' });
    for (let index = 0; index < MAX_TOASTS - 1; index += 1) toasts.show({ kind: 'error', title: `error ${index}` });
    expect(toasts.items).toHaveLength(MAX_TOASTS);
    expect(toasts.items.map((toast) => toast.title)).not.toContain('old notice');
    expect(toasts.items[0]?.title).toBe('first error');
  });
});

describe('Toast actions', () => {
  it('dismisses the toast, then runs the action', () => {
    const toasts = new Toasts();
    const ran: string[] = [];
    const id = toasts.show({
      kind: 'error',
      key: 'job-failed',
      title: 'Upload failed: a.txt',
      actions: [{ label: 'Retry', run: () => ran.push(`on screen: ${toasts.items.length}`) }],
    });
    const [action] = toasts.items[0]?.actions ?? [];
    if (!action) throw new Error('the toast has no action');
    expect(action.label).toBe('Retry');

    toasts.runAction(id, action);
    expect(ran).toEqual(['on screen: 0']);
    expect(toasts.items).toHaveLength(0);
  });
});
