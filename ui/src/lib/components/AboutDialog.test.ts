// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '../generated/protocol';
import { click, escape, find, one } from '../testing/dom';
import AboutDialog from './AboutDialog.svelte';

let component: ReturnType<typeof mount> | null = null;

const info: AppInfo = {
  version: '0.1.0',
  licence: 'MIT OR Apache-2.0',
  data_dir: '/home/ann/.local/share/app.ferry.desktop',
  log_dir: '/home/ann/.local/share/app.ferry.desktop/logs',
  destination: '/home/ann/Ferry Uploads',
  start_at_login: false,
};

function render(props: { info: AppInfo | null; problem?: string | null; saving?: boolean }) {
  const handlers = { onStartAtLogin: vi.fn(), onOpenLogs: vi.fn(), onClose: vi.fn() };
  document.body.replaceChildren();
  component = mount(AboutDialog, {
    target: document.body,
    props: { problem: null, saving: false, ...props, ...handlers },
  });
  flushSync();
  return handlers;
}

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
});

describe('the About view', () => {
  it('shows the version, licence and folders, and start at login as it is', () => {
    render({ info });
    expect(find('about-version')?.textContent).toBe('Version 0.1.0 · MIT OR Apache-2.0');
    expect(find('about-data-dir')?.textContent).toBe(info.data_dir);
    expect(find('about-log-dir')?.textContent).toBe(info.log_dir);
    expect(find<HTMLInputElement>('start-at-login')?.checked).toBe(false);
  });

  it('asks to change start at login, and is locked while the change is saved', () => {
    const handlers = render({ info });
    click(one('start-at-login'));
    expect(handlers.onStartAtLogin).toHaveBeenCalledWith(true);
    unmount(component!);
    render({ info, saving: true });
    expect(find<HTMLInputElement>('start-at-login')?.disabled).toBe(true);
  });

  it('says what went wrong, and closes with Escape or Close', () => {
    const handlers = render({ info: null, problem: 'could not turn starting at login on: denied' });
    expect(find('about-problem')?.textContent).toBe('could not turn starting at login on: denied');
    escape();
    click(one('about-close'));
    expect(handlers.onClose).toHaveBeenCalledTimes(2);
  });
});
