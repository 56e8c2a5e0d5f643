// Helpers shared by the end-to-end specs: calling the app's Tauri commands from the
// page, waiting for the live connection, and keeping screenshots for people to look at.
import { browser, $ } from '@wdio/globals';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { EnqueueReport } from '../../ui/src/lib/generated/protocol.js';

/** Calls the `enqueue_paths` command: the entry point a drop on the window uses. */
export async function enqueuePaths(paths: string[]): Promise<EnqueueReport> {
  return browser.executeAsync(
    (paths: string[], done: (result: EnqueueReport | { error: string }) => void) => {
      const tauri = (window as unknown as { __TAURI_INTERNALS__: { invoke: (cmd: string, args: unknown) => Promise<EnqueueReport> } })
        .__TAURI_INTERNALS__;
      tauri.invoke('enqueue_paths', { paths }).then(done, (error: unknown) => done({ error: String(error) }));
    },
    paths,
  ).then((result) => {
    if ('error' in result) throw new Error(`enqueue_paths failed: ${result.error}`);
    return result;
  });
}

/** Waits until the connection badge says the socket is open. */
export async function waitForConnection(): Promise<void> {
  const badge = $('[data-testid="connection-badge"]');
  await badge.waitForExist();
  await browser.waitUntil(async () => (await badge.getAttribute('data-state')) === 'open', {
    timeoutMsg: 'the UI never connected to the progress socket',
  });
}

/** Saves a PNG of the window under tests/artifacts (or FERRY_E2E_ARTIFACTS). */
export async function saveScreenshot(name: string): Promise<void> {
  const folder = process.env.FERRY_E2E_ARTIFACTS ?? path.resolve('tests', 'artifacts');
  mkdirSync(folder, { recursive: true });
  await browser.saveScreenshot(path.join(folder, `${name}.png`));
}
