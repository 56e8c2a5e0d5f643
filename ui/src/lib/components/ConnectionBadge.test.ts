// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionStatus } from '../connection';
import { click, find, one, text } from '../testing/dom';
import ConnectionBadge from './ConnectionBadge.svelte';

let component: ReturnType<typeof mount> | null = null;

function render(status: ConnectionStatus) {
  const onRetry = vi.fn();
  component = mount(ConnectionBadge, { target: document.body, props: { status, onRetry } });
  flushSync();
  return { onRetry };
}

function reconnecting(attempt: number, nextRetryAt: number | null, more: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return { state: 'reconnecting', attempt, lastError: 'the connection dropped (code 1006)', nextRetryAt, queued: 0, polling: false, ...more };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe('ConnectionBadge', () => {
  it('counts down the whole seconds to the next try, a second at a time', () => {
    render(reconnecting(3, Date.now() + 2_500));
    const badge = one('connection-badge');
    expect(badge.dataset.state).toBe('reconnecting');
    expect(badge.dataset.attempt).toBe('3');
    expect(badge.getAttribute('role')).toBe('status');
    expect(badge.title).toBe('The connection failed: the connection dropped (code 1006). Retrying automatically.');
    expect(text('connection-badge')).toContain('Reconnecting (attempt 3) · next try in 3 s');

    vi.advanceTimersByTime(499);
    flushSync();
    expect(text('connection-badge')).toContain('next try in 3 s');
    vi.advanceTimersByTime(1);
    flushSync();
    expect(text('connection-badge')).toContain('next try in 2 s');
    vi.advanceTimersByTime(1_000);
    flushSync();
    expect(text('connection-badge')).toContain('next try in 1 s');
    // The attempt is due now; until the connection says it started, the figure stays at 1.
    vi.advanceTimersByTime(1_000);
    flushSync();
    expect(text('connection-badge')).toContain('next try in 1 s');

    unmount(component as ReturnType<typeof mount>);
    component = null;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('shows an attempt under way without a countdown, its retry button disabled', () => {
    const { onRetry } = render(reconnecting(2, null));
    expect(text('connection-badge')).toBe('Reconnecting (attempt 2)… Retry now');
    const retry = one<HTMLButtonElement>('connection-retry');
    expect(retry.disabled).toBe(true);
    click(retry);
    expect(onRetry).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('offers Retry now only while reconnecting, and asks for the retry when clicked', () => {
    const others: ConnectionStatus[] = [
      { state: 'connecting', attempt: 0, lastError: null, nextRetryAt: null, queued: 0, polling: false },
      { state: 'open', attempt: 0, lastError: null, nextRetryAt: null, queued: 0, polling: false },
      { state: 'offline', attempt: 0, lastError: 'disconnected', nextRetryAt: null, queued: 0, polling: false },
    ];
    for (const status of others) {
      render(status);
      expect(one('connection-badge').dataset.state).toBe(status.state);
      expect(find('connection-retry')).toBeNull();
      unmount(component as ReturnType<typeof mount>);
      component = null;
    }

    const { onRetry } = render(reconnecting(1, Date.now() + 400));
    const retry = one<HTMLButtonElement>('connection-retry');
    expect(retry.type).toBe('button');
    expect(retry.textContent?.trim()).toBe('Retry now');
    click(retry);
    expect(onRetry).toHaveBeenCalledTimes(1);
  });

  it('counts the commands waiting, and shows nothing for none', () => {
    render(reconnecting(1, null, { queued: 2 }));
    expect(text('connection-queued')).toBe('· 2 commands waiting');
    expect(text('connection-badge')).toBe('Reconnecting (attempt 1)… · 2 commands waiting Retry now');
    expect(one('connection-badge').title).toContain('2 commands are waiting to be sent or answered.');
    unmount(component as ReturnType<typeof mount>);

    render({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null, queued: 1, polling: false });
    expect(text('connection-badge')).toBe('Connected · 1 command waiting');
    unmount(component as ReturnType<typeof mount>);

    render({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null, queued: 0, polling: false });
    expect(find('connection-queued')).toBeNull();
  });

  it('says the queue shown is polled, keeping the countdown and Retry now', () => {
    const { onRetry } = render(reconnecting(3, Date.now() + 2_500, { polling: true, queued: 1 }));
    const badge = one('connection-badge');
    expect(badge.dataset.state).toBe('reconnecting');
    expect(badge.dataset.attempt).toBe('3');
    expect(text('connection-polling')).toBe('· showing polled updates');
    expect(text('connection-badge')).toBe(
      'Reconnecting (attempt 3) · next try in 3 s · showing polled updates · 1 command waiting Retry now',
    );
    expect(badge.title).toContain('read from Ferry every second');
    click(one('connection-retry'));
    expect(onRetry).toHaveBeenCalledTimes(1);
    unmount(component as ReturnType<typeof mount>);

    render(reconnecting(3, Date.now() + 2_500));
    expect(find('connection-polling')).toBeNull();
  });
});
