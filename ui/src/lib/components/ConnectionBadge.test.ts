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

function reconnecting(attempt: number, nextRetryAt: number | null): ConnectionStatus {
  return { state: 'reconnecting', attempt, lastError: 'the connection dropped (code 1006)', nextRetryAt };
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
      { state: 'connecting', attempt: 0, lastError: null, nextRetryAt: null },
      { state: 'open', attempt: 0, lastError: null, nextRetryAt: null },
      { state: 'offline', attempt: 0, lastError: 'disconnected', nextRetryAt: null },
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
});
