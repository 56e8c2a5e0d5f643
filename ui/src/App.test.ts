// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';
import { FerryApp } from './lib/app.svelte';
import { all, click, find, one, settle, text } from './lib/testing/dom';
import { change, changeMessage, job, jobMessage, progress, progressMessage, totals, totalsMessage, welcome } from './lib/testing/fixtures';
import { ManualFrames } from './lib/testing/frames';

let component: ReturnType<typeof mount> | null = null;

// jsdom has no Web Animations; transitions only need an animation that finishes at once,
// and moving the toasts around only asks which animations are running.
beforeAll(() => {
  if (typeof Element.prototype.getAnimations !== 'function') Element.prototype.getAnimations = () => [];
  if (typeof Element.prototype.animate === 'function') return;
  Element.prototype.animate = function animate() {
    const animation = {
      playState: 'finished',
      onfinish: null as (() => void) | null,
      cancel() {},
    };
    queueMicrotask(() => animation.onfinish?.());
    return animation as unknown as Animation;
  };
});

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
});

describe('App', () => {
  it('shows the offline state outside the Ferry app instead of failing', () => {
    component = mount(App, { target: document.body });
    flushSync();
    expect(find('connection-badge')?.dataset.state).toBe('offline');
    expect(find('connection-badge')?.textContent?.trim()).toBe('Offline');
    expect(find('offline-state')?.textContent).toContain('not running inside the Ferry app');
    expect(find('overall-progress')?.textContent).toBe('Queue unavailable while offline');
    const add = [...document.querySelectorAll('button')].find((button) => button.textContent?.includes('Add files'));
    expect(add?.disabled).toBe(true);
  });

  it('says where uploads go once the app has told it', () => {
    const app = new FerryApp(false);
    component = mount(App, { target: document.body, props: { app } });
    app.receive(welcome(1, 'e', []));
    flushSync();
    expect(find('destination')).toBeNull();
    app.destination = '/home/ana/Ferry Uploads';
    flushSync();
    expect(find('destination')?.textContent).toBe('Uploads go to /home/ana/Ferry Uploads');
  });

  it('renders the queue from server messages', () => {
    const frames = new ManualFrames();
    const app = new FerryApp(false, frames.schedule);
    component = mount(App, { target: document.body, props: { app } });
    app.receive(welcome(1, 'e', []));
    flushSync();
    expect(find('empty-state')?.textContent).toContain('Drop files or folders here, or use Add files / Add folder');
    expect(find('overall-progress')?.textContent).toBe('No files in the queue');

    app.receive(jobMessage(2, job(1, { name: 'report.pdf', status: 'hashing' })));
    app.receive(
      progressMessage(
        3,
        progress(1, { status: 'hashing', current: 500_000, total: 1_000_000, speed: 1_000_000, eta_secs: 1 }),
        totals({ jobs: 1, active: 1, bytes_total: 1_000_000, speed: 0 }),
      ),
    );
    flushSync();
    expect(find('empty-state')).not.toBeNull();
    frames.next();
    flushSync();
    expect(find('empty-state')).toBeNull();
    const rows = all('job-row');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.dataset.status).toBe('hashing');
    expect(rows[0]?.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('50');
    expect(find('overall-progress')?.textContent).toBe('0 of 1 file · 0 B of 1.0 MB');

    app.receive(changeMessage(4, change(1, { status: 'failed', error: 'Connection refused' })));
    app.receive(totalsMessage(5, totals({ jobs: 1, failed: 1, bytes_total: 1_000_000 })));
    frames.next();
    flushSync();
    expect(rows[0]?.dataset.status).toBe('failed');
    expect(find('overall-progress')?.textContent).toContain('1 failed');
    const toast = find('toast');
    expect(toast?.dataset.kind).toBe('error');
    expect(toast?.textContent).toContain('Upload failed: report.pdf');
    expect(toast?.textContent).toContain('Connection refused.');
  });
});

describe('App notifications', () => {
  let frames = new ManualFrames();
  beforeEach(() => {
    frames = new ManualFrames();
  });

  /** The app on screen, its queue holding file-1.bin to file-3.bin, uploading. */
  function renderApp(): FerryApp {
    const app = new FerryApp(false, frames.schedule);
    component = mount(App, { target: document.body, props: { app } });
    app.receive(welcome(1, 'e', [1, 2, 3].map((id) => job(id, { status: 'uploading' }))));
    flushSync();
    return app;
  }

  function fail(app: FerryApp, seq: number, id: number): void {
    app.receive(changeMessage(seq, change(id, { status: 'failed', error: 'disk full' })));
    frames.next();
    flushSync();
  }

  it('retries a failed upload from the Retry on its toast, and takes the toast away', async () => {
    const app = renderApp();
    const act = vi.spyOn(app, 'act').mockResolvedValue();
    fail(app, 2, 1);
    const toast = one('toast');
    expect(text('toast-action', toast)).toBe('Retry');

    click(one('toast-action', toast));
    expect(act).toHaveBeenCalledExactlyOnceWith('retry', 1);
    await settle();
    expect(find('toast')).toBeNull();
  });

  it('retries every failed upload from Retry all', async () => {
    const app = renderApp();
    const act = vi.spyOn(app, 'act').mockResolvedValue();
    fail(app, 2, 1);
    fail(app, 3, 3);
    // The toast for the first failure, replaced, leaves once its exit has played.
    await settle();
    expect(all('toast')).toHaveLength(1);
    expect(text('toast-action')).toBe('Retry all');

    click(one('toast-action'));
    expect(act.mock.calls).toEqual([
      ['retry', 1],
      ['retry', 3],
    ]);
  });

  it('counts new notifications on the bell until the list is opened', async () => {
    const app = renderApp();
    const bell = one('notifications-button');
    expect(bell.getAttribute('aria-label')).toBe('Notifications');
    expect(find('notifications-unread')).toBeNull();

    fail(app, 2, 1);
    expect(text('notifications-unread')).toBe('1');
    fail(app, 3, 2);
    expect(text('notifications-unread')).toBe('2');

    click(bell);
    expect(find('notifications-dialog')).not.toBeNull();
    expect(all('notification')).toHaveLength(2);
    // The list marks them seen just after the flush that showed it.
    await Promise.resolve();
    flushSync();
    expect(find('notifications-unread')).toBeNull();

    click(one('notifications-close'));
    expect(find('notifications-dialog')).toBeNull();
    expect(find('notifications-unread')).toBeNull();
    fail(app, 4, 3);
    expect(text('notifications-unread')).toBe('1');
  });
});
