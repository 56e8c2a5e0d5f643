// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import App from './App.svelte';
import { FerryApp } from './lib/app.svelte';
import { all, find } from './lib/testing/dom';
import { change, changeMessage, job, jobMessage, progress, progressMessage, totals, totalsMessage, welcome } from './lib/testing/fixtures';

let component: ReturnType<typeof mount> | null = null;

// jsdom has no Web Animations; transitions only need an animation that finishes at once.
beforeAll(() => {
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
    const app = new FerryApp(false);
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
    expect(find('empty-state')).toBeNull();
    const rows = all('job-row');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.dataset.status).toBe('hashing');
    expect(rows[0]?.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('50');
    expect(find('overall-progress')?.textContent).toBe('0 of 1 file · 0 B of 1.0 MB');

    app.receive(changeMessage(4, change(1, { status: 'failed', error: 'Connection refused' })));
    app.receive(totalsMessage(5, totals({ jobs: 1, failed: 1, bytes_total: 1_000_000 })));
    flushSync();
    expect(rows[0]?.dataset.status).toBe('failed');
    expect(find('overall-progress')?.textContent).toContain('1 failed');
    const toast = find('toast');
    expect(toast?.dataset.kind).toBe('error');
    expect(toast?.textContent).toContain('Upload failed: report.pdf');
    expect(toast?.textContent).toContain('Connection refused.');
  });
});
