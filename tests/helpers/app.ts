// Helpers shared by the end-to-end specs: calling the app's Tauri commands from the
// page, waiting for the live connection, and keeping screenshots for people to look at.
import { browser, $ } from '@wdio/globals';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { EnqueueReport } from '../../ui/src/lib/generated/protocol.js';

/** Calls one of the app's Tauri commands from the page, as the UI does. */
export async function invoke<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
  type Outcome = { value: T } | { error: string };
  const outcome = await browser.executeAsync<Outcome, [string, Record<string, unknown>]>(
    (command: string, args: Record<string, unknown>, done: (outcome?: Outcome) => void) => {
      type Invoke = (command: string, args: unknown) => Promise<T>;
      const tauri = (window as unknown as { __TAURI_INTERNALS__: { invoke: Invoke } }).__TAURI_INTERNALS__;
      tauri.invoke(command, args).then(
        (value) => done({ value }),
        (error: unknown) => done({ error: String(error) }),
      );
    },
    command,
    args,
  );
  if (!outcome) throw new Error(`${command} returned nothing`);
  if ('error' in outcome) throw new Error(`${command} failed: ${outcome.error}`);
  return outcome.value;
}

/** Calls the `enqueue_paths` command: the entry point a drop on the window uses. */
export function enqueuePaths(paths: string[]): Promise<EnqueueReport> {
  return invoke<EnqueueReport>('enqueue_paths', { paths });
}

/** Waits until the connection badge says the socket is open. */
export async function waitForConnection(): Promise<void> {
  // Errors thrown in the page are kept, so that a failure can say what broke.
  await browser.execute(() => {
    const w = window as unknown as { ferryPageErrors?: string[] };
    if (w.ferryPageErrors) return;
    const errors: string[] = [];
    w.ferryPageErrors = errors;
    window.addEventListener('error', (event) => errors.push(`${event.message} at ${event.filename}:${event.lineno}`));
    window.addEventListener('unhandledrejection', (event) => errors.push(`unhandled rejection: ${String(event.reason)}`));
    const logError = console.error.bind(console);
    console.error = (...args: unknown[]) => {
      errors.push(args.map((a) => (a instanceof Error ? `${a.message} ${a.stack ?? ''}` : String(a))).join(' '));
      logError(...args);
    };
  });
  const badge = $('[data-testid="connection-badge"]');
  await badge.waitForExist();
  await browser.waitUntil(async () => (await badge.getAttribute('data-state')) === 'open', {
    timeoutMsg: 'the UI never connected to the progress socket',
  });
}

/**
 * Once the progress server is back, reconnects without waiting out the backoff: presses
 * Retry now until the badge says connected (a scheduled attempt may get there first,
 * and the button is gone or disabled while an attempt is under way).
 *
 * The badge is read and the button pressed by script in the page, not by WebDriver's
 * element commands: WebKitWebDriver can hold such a command until the page next paints,
 * and once the uploads have ended and the badge has settled the page may not paint
 * again, which left a wait reading the badge as it was before the reconnection.
 */
export async function reconnectNow(): Promise<void> {
  let last = '';
  let failure: unknown = null;
  await browser
    .waitUntil(
      async () => {
        const seen = await browser.execute(() => {
          const badge = document.querySelector<HTMLElement>('[data-testid="connection-badge"]');
          const retry = document.querySelector<HTMLButtonElement>('[data-testid="connection-retry"]');
          const state = badge?.dataset.state ?? 'missing';
          if (state !== 'open' && retry && !retry.disabled) retry.click();
          return { state, text: badge?.textContent?.replace(/\s+/g, ' ').trim() ?? '', title: badge?.title ?? '' };
        });
        last = `${seen.state}: ${seen.text} (${seen.title})`;
        return seen.state === 'open';
      },
      { timeout: 45_000, interval: 200, timeoutMsg: 'the window did not reconnect once the server was back' },
    )
    .catch((error: unknown) => (failure = error));
  const pageErrors = await browser.execute(() => (window as unknown as { ferryPageErrors?: string[] }).ferryPageErrors ?? []);
  if (failure !== null) throw new Error(`${String(failure)}; the badge said ${last}; errors in the page: ${pageErrors.join(' | ') || 'none'}`);
  if (pageErrors.length > 0) console.log(`errors in the page while reconnecting: ${pageErrors.join(' | ')}`);
}

/** Saves a PNG of the window under reports/artifacts (or FERRY_E2E_ARTIFACTS). */
export async function saveScreenshot(name: string): Promise<void> {
  const folder = process.env.FERRY_E2E_ARTIFACTS ?? path.resolve('reports', 'artifacts');
  mkdirSync(folder, { recursive: true });
  // WebKitWebDriver's snapshot waits for the next paint, and a still page never paints.
  // Keep the page painting (an invisible opacity flicker) until the snapshot is taken:
  // a single nudge can be over before a slow machine delivers the request.
  await browser.execute(() => {
    const w = window as unknown as { ferryPaintNudge?: number };
    let flip = false;
    w.ferryPaintNudge = window.setInterval(() => {
      flip = !flip;
      document.body.style.opacity = flip ? '0.999' : '';
    }, 50);
  });
  try {
    await browser.saveScreenshot(path.join(folder, `${name}.png`));
  } finally {
    await browser.execute(() => {
      const w = window as unknown as { ferryPaintNudge?: number };
      window.clearInterval(w.ferryPaintNudge);
      document.body.style.opacity = '';
    });
  }
}

/**
 * Sends the webview one of the drag events the window emits while the OS drags files
 * over it (WebDriver cannot perform an OS drag itself).
 */
export async function emitDragEvent(kind: 'enter' | 'over' | 'leave', paths: string[] = []): Promise<void> {
  const error = await browser.executeAsync<string | null, [string, string[]]>(
    (kind: string, paths: string[], done: (error?: string | null) => void) => {
      type Invoke = (command: string, args: unknown) => Promise<unknown>;
      const tauri = (window as unknown as { __TAURI_INTERNALS__: { invoke: Invoke } }).__TAURI_INTERNALS__;
      const payload = kind === 'leave' ? null : { paths, position: { x: 400, y: 300 } };
      tauri.invoke('plugin:event|emit', { event: `tauri://drag-${kind}`, payload }).then(
        () => done(null),
        (error: unknown) => done(String(error)),
      );
    },
    kind,
    paths,
  );
  if (error) throw new Error(`could not emit the drag-${kind} event: ${error}`);
}
