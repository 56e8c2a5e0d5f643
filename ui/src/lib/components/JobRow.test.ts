// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobView } from '../generated/protocol';
import { one } from '../testing/dom';
import { job, progress } from '../testing/fixtures';
import JobRow from './JobRow.svelte';

let component: ReturnType<typeof mount> | null = null;

function render(view: JobView, online = true) {
  const onAction = vi.fn();
  const list = document.createElement('ul');
  document.body.replaceChildren(list);
  component = mount(JobRow, { target: list, props: { job: view, online, busy: false, onAction, position: 1, setSize: 1 } });
  flushSync();
  return { row: one('job-row', list), onAction };
}

function actions(row: HTMLElement): string[] {
  return [...row.querySelectorAll<HTMLButtonElement>('button[data-action]')].map((button) => button.dataset.action ?? '');
}

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
});

describe('JobRow', () => {
  it('shows what a paused resumable upload kept at the server', () => {
    const { row } = render(
      job(4, {
        size: 16_000_000,
        status: 'paused',
        progress: progress(4, { status: 'paused', current: 8_000_000, total: 16_000_000 }),
      }),
    );
    expect(row.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('50');
    expect(row.textContent).toContain('8.0 MB of 16.0 MB uploaded');
  });


  it('renders hostile file names, errors and notes as text, never as markup', () => {
    const name = '<img src=x onerror="window.pwned=1">\u202Egpj.exe\u0007<b>bold</b>.txt';
    const error = '<script>window.pwned=2</script> server said <i>no</i>';
    const { row } = render(job(9, { name, status: 'failed', error, path: `/tmp/${name}` }));
    expect(row.querySelector('img, script, b, i')).toBeNull();
    expect(row.querySelector('.name')?.textContent).toBe(name);
    expect(row.querySelector('[data-testid="job-status"]')?.textContent).toContain(error);
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });


  it('shows an uploading job with its hooks, figures and bar', () => {
    const { row } = render(
      job(7, {
        name: 'holiday.mp4',
        size: 12_000_000,
        status: 'uploading',
        progress: progress(7, { status: 'uploading', current: 4_200_000, total: 12_000_000, speed: 3_100_000, eta_secs: 12 }),
      }),
    );
    expect(row.dataset.jobId).toBe('7');
    expect(row.dataset.status).toBe('uploading');
    expect(row.querySelector('[data-testid="job-status"]')?.textContent).toBe('Uploading');
    expect(row.textContent).toContain('holiday.mp4');
    expect(row.textContent).toContain('12.0 MB');
    expect(row.textContent).toContain('4.2 MB of 12.0 MB · 3.1 MB/s · 12 s left');

    const bar = row.querySelector('[role="progressbar"]');
    expect(bar?.getAttribute('aria-valuenow')).toBe('35');
    expect(bar?.getAttribute('aria-valuemin')).toBe('0');
    expect(bar?.getAttribute('aria-valuemax')).toBe('100');
    expect(bar?.getAttribute('aria-label')).toBe('holiday.mp4 progress');
    expect(actions(row)).toEqual(['pause', 'cancel']);
  });

  it('shows a failed job with its reason and a retry button', () => {
    const { row, onAction } = render(job(3, { name: 'a.txt', status: 'failed', error: 'The server refused the file' }));
    expect(row.querySelector('[data-testid="job-status"]')?.textContent).toBe('Failed — The server refused the file');
    expect(actions(row)).toEqual(['retry']);
    const retry = row.querySelector<HTMLButtonElement>('button[data-action="retry"]');
    expect(retry?.getAttribute('aria-label')).toBe('Retry a.txt');
    expect(retry?.title).toBe('Retry');
    retry?.click();
    expect(onAction).toHaveBeenCalledWith('retry');
  });

  it('fills the bar when done and offers no action', () => {
    const { row } = render(job(4, { status: 'done', progress: progress(4, { status: 'verifying', current: 10, total: 10 }) }));
    expect(row.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('100');
    expect(row.querySelector('[data-testid="job-status"]')?.textContent).toBe('Done');
    expect(actions(row)).toEqual([]);
  });

  it('offers resume and cancel when paused, disabled while offline', () => {
    const { row, onAction } = render(job(5, { status: 'paused' }), false);
    expect(actions(row)).toEqual(['resume', 'cancel']);
    const buttons = [...row.querySelectorAll<HTMLButtonElement>('button[data-action]')];
    expect(buttons.every((button) => button.disabled)).toBe(true);
    buttons[0]?.click();
    expect(onAction).not.toHaveBeenCalled();
  });
});
