// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '../generated/protocol';
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
  const query = <T extends Element>(id: string) => document.querySelector<T>(`[data-testid="${id}"]`);
  return { handlers, query };
}

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
});

describe('the About view', () => {
  it('shows the version, licence and folders, and start at login as it is', () => {
    const { query } = render({ info });
    expect(query('about-version')?.textContent).toBe('Version 0.1.0 · MIT OR Apache-2.0');
    expect(query('about-data-dir')?.textContent).toBe(info.data_dir);
    expect(query('about-log-dir')?.textContent).toBe(info.log_dir);
    expect(query<HTMLInputElement>('start-at-login')?.checked).toBe(false);
  });

  it('asks to change start at login, and is locked while the change is saved', () => {
    const { query, handlers } = render({ info });
    const toggle = query<HTMLInputElement>('start-at-login')!;
    toggle.click();
    expect(handlers.onStartAtLogin).toHaveBeenCalledWith(true);
    unmount(component!);
    const saving = render({ info, saving: true });
    expect(saving.query<HTMLInputElement>('start-at-login')?.disabled).toBe(true);
  });

  it('says what went wrong, and closes with Escape or Close', () => {
    const { query, handlers } = render({ info: null, problem: 'could not turn starting at login on: denied' });
    expect(query('about-problem')?.textContent).toBe('could not turn starting at login on: denied');
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    query<HTMLButtonElement>('about-close')!.click();
    expect(handlers.onClose).toHaveBeenCalledTimes(2);
  });
});
