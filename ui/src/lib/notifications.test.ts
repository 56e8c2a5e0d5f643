import { describe, expect, it } from 'vitest';
import { MAX_NOTIFICATIONS, Notifications } from './notifications.svelte';

describe('Notifications', () => {
  it('keeps each entry with its kind, title, message, time and job, newest first', () => {
    let clock = 1_700_000_000_000;
    const notifications = new Notifications(() => clock);
    notifications.add({ kind: 'connection', title: 'Lost the connection to Ferry', message: 'Connection refused. Retrying automatically.' });
    clock += 5_000;
    notifications.add({ kind: 'job-failed', title: 'Upload failed: a.txt', message: 'Disk full.', jobId: 7 });

    expect(notifications.entries).toEqual([
      expect.objectContaining({ kind: 'job-failed', title: 'Upload failed: a.txt', message: 'Disk full.', at: clock, jobId: 7 }),
      expect.objectContaining({
        kind: 'connection',
        title: 'Lost the connection to Ferry',
        message: 'Connection refused. Retrying automatically.',
        at: clock - 5_000,
        jobId: null,
      }),
    ]);
    expect(new Set(notifications.entries.map((entry) => entry.id)).size).toBe(2);
  });

  it(`keeps the ${MAX_NOTIFICATIONS} most recent entries`, () => {
    const notifications = new Notifications();
    for (let index = 1; index <= MAX_NOTIFICATIONS + 5; index += 1) notifications.add({ kind: 'engine', title: `problem ${index}` });
    expect(notifications.entries).toHaveLength(MAX_NOTIFICATIONS);
    expect(notifications.entries[0]?.title).toBe(`problem ${MAX_NOTIFICATIONS + 5}`);
    expect(notifications.entries.at(-1)?.title).toBe('problem 6');
    expect(notifications.unread).toBe(MAX_NOTIFICATIONS);
  });

  it('counts the entries added since they were last seen', () => {
    const notifications = new Notifications();
    notifications.add({ kind: 'engine', title: 'first' });
    notifications.add({ kind: 'engine', title: 'second' });
    expect(notifications.unread).toBe(2);
    notifications.markSeen();
    expect(notifications.unread).toBe(0);
    notifications.add({ kind: 'engine', title: 'third' });
    expect(notifications.unread).toBe(1);
    expect(notifications.entries).toHaveLength(3);
  });

  it('clears the entries and their count', () => {
    const notifications = new Notifications();
    notifications.add({ kind: 'engine', title: 'first' });
    notifications.clear();
    expect(notifications.entries).toEqual([]);
    expect(notifications.unread).toBe(0);
  });
});
