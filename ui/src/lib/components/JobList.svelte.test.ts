// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as format from '../format';
import type { JobView } from '../generated/protocol';
import { all, one, settle } from '../testing/dom';
import { job, progress } from '../testing/fixtures';
import { OVERSCAN_ROWS } from '../virtual-list';
import JobList from './JobList.svelte';
import { JOB_ROW_HEIGHT } from './JobRow.svelte';

// Counts the rows that work out their status line again: a row left alone does not.
const worked = vi.hoisted(() => ({ rows: 0 }));
vi.mock('../format', async (importOriginal) => {
  const actual = await importOriginal<typeof format>();
  return {
    ...actual,
    stageText: (...args: Parameters<typeof actual.stageText>) => {
      worked.rows += 1;
      return actual.stageText(...args);
    },
  };
});

const ROW = JOB_ROW_HEIGHT;
/** The viewport shows eight rows exactly. */
const VIEWPORT = 8 * ROW;
/** Space between the top of the viewport's content and the list, as the page's padding. */
const ABOVE = 20;

let component: ReturnType<typeof mount> | null = null;

/** Callbacks of the ResizeObservers made, so a test can tell them the viewport changed. */
let resized: (() => void)[] = [];

beforeEach(() => {
  resized = [];
  vi.stubGlobal(
    'ResizeObserver',
    class {
      constructor(private readonly callback: () => void) {}
      observe(): void {
        resized.push(this.callback);
      }
      disconnect(): void {}
    },
  );
});

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

function jobs(count: number, done = 0): JobView[] {
  return Array.from({ length: count }, (_, n) => job(n + 1, { status: n < done ? 'done' : 'uploading' }));
}

/**
 * The list in a scrolling viewport VIEWPORT high, which jsdom does not lay out: the
 * viewport's height and the list's place in it are given here, from `scroller.scrollTop`.
 */
async function render(initial: JobView[]) {
  const scroller = document.createElement('main');
  scroller.style.overflowY = 'auto';
  document.body.replaceChildren(scroller);
  let height = VIEWPORT;
  let scrollTop = 0;
  Object.defineProperty(scroller, 'clientHeight', { get: () => height });
  scroller.getBoundingClientRect = () => new DOMRect(0, 0, 800, height);

  const props = $state({ jobs: initial, online: true, busy: new Set<number>(), onAction: vi.fn() });
  component = mount(JobList, { target: scroller, props });
  const list = one('job-list', scroller);
  list.getBoundingClientRect = () => new DOMRect(0, ABOVE - scrollTop, 800, props.jobs.length * ROW + 1);
  await settle();

  return {
    props,
    list,
    scrollTo(top: number) {
      scrollTop = top;
      scroller.dispatchEvent(new Event('scroll'));
      flushSync();
    },
    resizeTo(newHeight: number) {
      height = newHeight;
      for (const callback of resized) callback();
      flushSync();
    },
  };
}

function shownIds(): number[] {
  return all('job-row').map((row) => Number(row.dataset.jobId));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, n) => from + n);
}

function px(value: string): number {
  return Number(value.replace('px', '') || 0);
}

describe('JobList', () => {
  it('draws only the rows in view and the overscan below them, of a thousand jobs', async () => {
    const { list } = await render(jobs(1000, 10));
    const rows = all('job-row');
    expect(rows.length).toBeLessThanOrEqual(VIEWPORT / ROW + 2 * OVERSCAN_ROWS);
    expect(shownIds()).toEqual(range(1, 8 + OVERSCAN_ROWS));
    expect(list.getAttribute('aria-label')).toBe('Upload queue');
    expect(list.dataset.count).toBe('1000');
    expect(list.dataset.done).toBe('10');
    expect(rows[0]?.getAttribute('aria-posinset')).toBe('1');
    expect(rows[0]?.getAttribute('aria-setsize')).toBe('1000');
  });

  it('moves the rows drawn as the list scrolls, with padding for the others', async () => {
    const { list, scrollTo } = await render(jobs(1000));
    // Row 101 (index 100) at the top of the viewport.
    scrollTo(ABOVE + 100 * ROW);
    expect(shownIds()).toEqual(range(101 - OVERSCAN_ROWS, 108 + OVERSCAN_ROWS));
    const rows = all('job-row');
    expect(rows[0]?.getAttribute('aria-posinset')).toBe(String(101 - OVERSCAN_ROWS));
    expect(rows.length).toBeLessThanOrEqual(VIEWPORT / ROW + 2 * OVERSCAN_ROWS);

    const top = px(list.style.paddingTop);
    const bottom = px(list.style.paddingBottom);
    expect(top).toBe((100 - OVERSCAN_ROWS) * ROW);
    expect(top + rows.length * ROW + bottom).toBe(1000 * ROW);
    // The two borders, less the last row's, which the list's own covers.
    expect(px(list.style.height)).toBe(1000 * ROW + 1);
    expect(list.style.getPropertyValue('--job-row-height')).toBe(`${ROW}px`);

    scrollTo(ABOVE + 1000 * ROW - VIEWPORT);
    expect(shownIds()).toEqual(range(993 - OVERSCAN_ROWS, 1000));
    expect(px(list.style.paddingBottom)).toBe(0);
    expect(px(list.style.paddingTop) + all('job-row').length * ROW).toBe(1000 * ROW);
  });

  it('draws more rows when the viewport grows', async () => {
    const { resizeTo } = await render(jobs(1000));
    resizeTo(2 * VIEWPORT);
    expect(shownIds()).toEqual(range(1, 16 + OVERSCAN_ROWS));
  });

  it('draws every row of a list that fits, with no padding, as a plain list', async () => {
    const { list } = await render(jobs(3));
    expect(shownIds()).toEqual([1, 2, 3]);
    expect(px(list.style.paddingTop)).toBe(0);
    expect(px(list.style.paddingBottom)).toBe(0);
    expect(px(list.style.height)).toBe(3 * ROW + 1);
    expect(all('job-row').map((row) => row.getAttribute('aria-posinset'))).toEqual(['1', '2', '3']);
  });

  it('updates the row of the job that changed and leaves the others alone', async () => {
    const { props } = await render(jobs(1000));
    const before = all('job-row');
    const observer = new MutationObserver(() => undefined);
    observer.observe(one('job-list'), { subtree: true, childList: true, attributes: true, characterData: true });

    worked.rows = 0;
    const next = props.jobs.slice();
    next[3] = { ...(next[3] as JobView), progress: progress(4, { status: 'uploading', current: 500_000, total: 1_000_000 }) };
    props.jobs = next;
    flushSync();
    const changes = observer.takeRecords().map((record) => record.target);
    observer.disconnect();

    const after = all('job-row');
    expect(after).toEqual(before);
    expect(after.every((row, n) => row === before[n])).toBe(true);
    const changedRow = after[3];
    expect(changedRow?.dataset.current).toBe('500000');
    expect(changes.length).toBeGreaterThan(0);
    // Padding and size of the list stay; only the fourth row's insides change.
    expect(changes.every((node) => changedRow?.contains(node))).toBe(true);
    expect(worked.rows).toBe(1);
  });

  it('keeps the row holding the keyboard focus in the page, in its place, while scrolled away', async () => {
    vi.spyOn(document, 'hasFocus').mockReturnValue(true);
    const { scrollTo } = await render(jobs(1000));
    const button = one('job-row').querySelector<HTMLButtonElement>('button[data-action="pause"]');
    if (!button) throw new Error('no pause button');
    button.focus();
    flushSync();

    scrollTo(ABOVE + 500 * ROW);
    expect(document.activeElement).toBe(button);
    const pinned = all('job-row')[0];
    expect(pinned?.dataset.jobId).toBe('1');
    expect(pinned?.style.top).toBe('0px');
    expect(shownIds().slice(1)).toEqual(range(501 - OVERSCAN_ROWS, 508 + OVERSCAN_ROWS));

    scrollTo(0);
    expect(document.activeElement).toBe(button);
    expect(all('job-row')[0]?.style.top).toBe('');

    scrollTo(ABOVE + 500 * ROW);
    button.blur();
    flushSync();
    expect(shownIds()[0]).toBe(501 - OVERSCAN_ROWS);
  });

  it('follows the window when no element around it scrolls', async () => {
    const list = document.createElement('div');
    document.body.replaceChildren(list);
    vi.stubGlobal('innerHeight', VIEWPORT);
    let scrollY = 0;
    component = mount(JobList, { target: list, props: { jobs: jobs(1000), online: true, busy: new Set<number>(), onAction: vi.fn() } });
    one('job-list').getBoundingClientRect = () => new DOMRect(0, -scrollY, 800, 1000 * ROW + 1);
    await settle();
    expect(shownIds()).toEqual(range(1, 8 + OVERSCAN_ROWS));

    scrollY = 300 * ROW;
    window.dispatchEvent(new Event('scroll'));
    flushSync();
    expect(shownIds()).toEqual(range(301 - OVERSCAN_ROWS, 308 + OVERSCAN_ROWS));
  });
});
