// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FerryApp } from '../app.svelte';
import { all, click, escape, find, one, text } from '../testing/dom';
import { change, changeMessage, job, jobMessage, welcome } from '../testing/fixtures';
import NotificationsDialog from './NotificationsDialog.svelte';

let component: ReturnType<typeof mount> | null = null;

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
});

/** An app whose queue holds file-1.bin and file-2.bin, both failed, after a lost connection. */
function appWithProblems(): FerryApp {
  const app = new FerryApp(false);
  app.notifications.add({ kind: 'connection', title: 'Lost the connection to Ferry', message: 'Connection reset. Retrying automatically.' });
  app.receive(welcome(1, 'e', [job(1, { status: 'uploading' }), job(2, { status: 'uploading' })]));
  app.receive(changeMessage(2, change(1, { status: 'failed', error: 'connection refused' })));
  app.receive(changeMessage(3, change(2, { status: 'failed', error: 'disk full' })));
  app.flushUpdates();
  return app;
}

function render(app: FerryApp) {
  const onRetry = vi.fn();
  const onClose = vi.fn();
  component = mount(NotificationsDialog, {
    target: document.body,
    props: {
      notifications: app.notifications,
      isFailed: (jobId: number) => app.isFailed(jobId),
      online: true,
      busy: new Set<number>(),
      onRetry,
      onClose,
    },
  });
  flushSync();
  return { onRetry, onClose };
}

function titles(): string[] {
  return all('notification').map((entry) => text('notification-title', entry));
}

describe('NotificationsDialog', () => {
  it('lists the notifications, newest first, with their message and time', () => {
    render(appWithProblems());
    expect(document.getElementById('notifications-title')?.textContent).toBe('Notifications');
    expect(titles()).toEqual(['Upload failed: file-2.bin', 'Upload failed: file-1.bin', 'Lost the connection to Ferry']);
    const [newest, , oldest] = all('notification');
    if (!newest || !oldest) throw new Error('missing notifications');
    expect(newest.dataset.kind).toBe('job-failed');
    expect(text('notification-message', newest)).toBe('Disk full.');
    expect(text('notification-time', newest)).toBe('Just now');
    expect(oldest.dataset.kind).toBe('connection');
    expect(text('notification-message', oldest)).toBe('Connection reset. Retrying automatically.');
    expect(find('notifications-empty')).toBeNull();
  });

  it('marks the notifications seen on opening, and those that arrive while it is open', async () => {
    const app = appWithProblems();
    expect(app.notifications.unread).toBe(3);
    render(app);
    // Marked just after the flush that showed them.
    await Promise.resolve();
    expect(app.notifications.unread).toBe(0);
    app.notifications.add({ kind: 'engine', title: 'Ferry reported a problem' });
    flushSync();
    expect(titles()[0]).toBe('Ferry reported a problem');
    await Promise.resolve();
    expect(app.notifications.unread).toBe(0);
  });

  it('retries an upload that is still failed, and offers it no more once the job is not', () => {
    const app = appWithProblems();
    const { onRetry } = render(app);
    const [second, first, connection] = all('notification');
    if (!second || !first || !connection) throw new Error('missing notifications');
    expect(find('notification-retry', connection)).toBeNull();

    click(one('notification-retry', first));
    expect(onRetry).toHaveBeenCalledExactlyOnceWith(1);

    app.receive(jobMessage(4, job(1, { status: 'queued' })));
    app.flushUpdates();
    flushSync();
    expect(find('notification-retry', first)).toBeNull();
    expect(find('notification-retry', second)).not.toBeNull();
  });

  it('does not offer Retry for an upload that is no longer in the queue', () => {
    const app = new FerryApp(false);
    app.notifications.add({ kind: 'job-failed', title: 'Upload failed: gone.bin', message: 'Disk full.', jobId: 9 });
    render(app);
    expect(all('notification')).toHaveLength(1);
    expect(find('notification-retry')).toBeNull();
  });

  it('clears the list, then says there are no notifications', () => {
    const app = appWithProblems();
    render(app);
    click(one<HTMLButtonElement>('notifications-clear'));
    expect(app.notifications.entries).toEqual([]);
    expect(all('notification')).toEqual([]);
    expect(text('notifications-empty')).toContain('No notifications');
    expect(one<HTMLButtonElement>('notifications-clear').disabled).toBe(true);
  });

  it('says there are no notifications when none were raised', () => {
    render(new FerryApp(false));
    expect(find('notifications-list')).toBeNull();
    expect(text('notifications-empty')).toContain('No notifications');
  });

  it('closes on Escape and with the close button', () => {
    const { onClose } = render(appWithProblems());
    escape();
    expect(onClose).toHaveBeenCalledTimes(1);
    click(one('notifications-close'));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
