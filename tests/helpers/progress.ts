// What the window showed of its jobs over time: every change of a job row's status or
// figures and of its progress bar, recorded in the page as it happened.
import { browser } from '@wdio/globals';

/** One change of a job row as the window drew it. */
export interface RowSample {
  /** Milliseconds since recording started (the page's clock). */
  at: number;
  jobId: number;
  status: string;
  /** The row's `data-current` and `data-total`: bytes of the stage, exact. */
  current: number;
  total: number;
  /** The bar's `aria-valuenow`: the percentage the user sees. */
  percent: number;
}

/** Starts recording every change of the job rows; [`stopRecording`] returns them. */
export async function startRecording(): Promise<void> {
  await browser.execute(() => {
    type Sample = { at: number; jobId: number; status: string; current: number; total: number; percent: number };
    const w = window as unknown as { ferryRowSamples?: Sample[]; ferryRowObserver?: MutationObserver };
    const samples: Sample[] = [];
    const started = performance.now();
    const last = new Map<number, string>();
    const sample = (row: Element) => {
      const bar = row.querySelector('[role="progressbar"]');
      const taken: Sample = {
        at: performance.now() - started,
        jobId: Number(row.getAttribute('data-job-id')),
        status: row.getAttribute('data-status') ?? '',
        current: Number(row.getAttribute('data-current')),
        total: Number(row.getAttribute('data-total')),
        percent: Number(bar?.getAttribute('aria-valuenow') ?? NaN),
      };
      const key = `${taken.status}/${taken.current}/${taken.total}/${taken.percent}`;
      if (last.get(taken.jobId) === key) return;
      last.set(taken.jobId, key);
      samples.push(taken);
    };
    const observer = new MutationObserver((mutations) => {
      const rows = new Set<Element>();
      for (const mutation of mutations) {
        const target = mutation.target instanceof Element ? mutation.target : mutation.target.parentElement;
        const row = target?.closest('[data-testid="job-row"]');
        if (row) rows.add(row);
        for (const added of mutation.addedNodes) {
          if (added instanceof Element) {
            if (added.matches('[data-testid="job-row"]')) rows.add(added);
            added.querySelectorAll('[data-testid="job-row"]').forEach((r) => rows.add(r));
          }
        }
      }
      rows.forEach(sample);
    });
    observer.observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-status', 'data-current', 'data-total', 'aria-valuenow'],
    });
    document.querySelectorAll('[data-testid="job-row"]').forEach(sample);
    w.ferryRowSamples = samples;
    w.ferryRowObserver = observer;
  });
}

/** Stops recording and returns what was recorded. */
export async function stopRecording(): Promise<RowSample[]> {
  return browser.execute(() => {
    const w = window as unknown as { ferryRowSamples?: RowSample[]; ferryRowObserver?: MutationObserver };
    w.ferryRowObserver?.disconnect();
    return w.ferryRowSamples ?? [];
  });
}

/** Waits until the row of `jobId` has `status`. */
export async function waitForStatus(jobId: number, status: string, timeout = 60_000): Promise<void> {
  await browser.waitUntil(
    async () => {
      const row = await browser.$(`[data-testid="job-row"][data-job-id="${jobId}"]`);
      return (await row.isExisting()) && (await row.getAttribute('data-status')) === status;
    },
    { timeout, timeoutMsg: `job ${jobId} did not reach ${status}` },
  );
}
