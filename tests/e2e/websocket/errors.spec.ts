// Errors the window must live through: the engine's socket gone for a while (the e2e
// build's `e2e_stop_server`, for real), a command given meanwhile, and an upload that
// fails and is retried once its cause is gone. Uploads are capped at 8 MiB/s by this
// run's configuration, so that there is time to act while one runs.
import { browser, $, $$, expect } from '@wdio/globals';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Snapshot } from '../../../ui/src/lib/generated/protocol.js';
import { enqueuePaths, invoke, reconnectNow, saveScreenshot, waitForConnection } from '../../helpers/app.js';
import { waitForStatus } from '../../helpers/progress.js';
import { disconnectState } from '../../fixtures/websocket-data.js';

const badge = () => $('[data-testid="connection-badge"]');
const row = (id: number) => $(`[data-testid="job-row"][data-job-id="${id}"]`);

function writeSource(name: string, size: number): string {
  const folder = path.join(process.env.FERRY_E2E_RUN!, 'fixtures', 'errors');
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  writeFileSync(file, randomBytes(size));
  return file;
}

async function badgeIs(state: string): Promise<void> {
  await browser.waitUntil(async () => (await badge().getAttribute('data-state')) === state, {
    timeout: 45_000,
    timeoutMsg: `the badge never said ${state}`,
  });
}

describe('errors', () => {
  before(async () => {
    await waitForConnection();
  });

  it('connection failure recovery: with the server gone the window keeps trying, and reconnects by itself once it is back', async () => {
    await invoke('e2e_stop_server');
    await badgeIs('reconnecting');
    await invoke('e2e_start_server');
    // No Retry now: the next scheduled attempt finds the server.
    await badgeIs('open');
    await expect(badge()).toHaveAttribute('data-attempt', '0');
  });

  it('message queue handling: a pause given while the socket is gone takes effect once it is back', async () => {
    const [id] = (await enqueuePaths([writeSource('paused-offline.bin', 64 * 1024 * 1024)])).jobs;
    await waitForStatus(id, 'uploading');
    await invoke('e2e_stop_server');
    await badgeIs('reconnecting');
    await row(id).$('[data-action="pause"]').click();
    await expect($('[data-testid="connection-queued"]')).toHaveText(expect.stringContaining('1 command waiting'));
    await saveScreenshot('ws-command-waiting');
    // The upload goes on meanwhile: the engine does not wait for the window.
    await invoke('e2e_start_server');
    await reconnectNow();
    await badgeIs('open');
    await waitForStatus(id, 'paused', 30_000);
    await $('[data-testid="connection-queued"]').waitForExist({ reverse: true, timeoutMsg: 'the command stayed waiting' });
    const engine = await invoke<Snapshot>('snapshot');
    expect(engine.jobs.find((j) => j.id === id)?.status).toBe('paused');
    await row(id).$('[data-action="cancel"]').click();
    await waitForStatus(id, 'cancelled');
  });

  it('fallback mechanism: after three failed attempts the window shows the queue polled from the engine, and returns to the socket', async () => {
    await invoke('e2e_stop_server');
    await browser.waitUntil(async () => Number(await badge().getAttribute('data-attempt')) >= disconnectState.attempt, {
      timeout: 45_000,
      timeoutMsg: `fewer than ${disconnectState.attempt} attempts while the server was down`,
    });
    await $('[data-testid="connection-polling"]').waitForExist({ timeoutMsg: 'the window never fell back to polling' });
    // A file queued now reaches the window by polling alone.
    const [id] = (await enqueuePaths([writeSource('polled.txt', 1000)])).jobs;
    await waitForStatus(id, 'done', 30_000);
    await saveScreenshot('ws-offline-polling');
    await invoke('e2e_start_server');
    await reconnectNow();
    await badgeIs('open');
    await expect($('[data-testid="connection-polling"]')).not.toBeExisting();
  });

  it('error state management: a failing upload shows its error, and succeeds on Retry once the cause is gone', async () => {
    const file = writeSource('growing.bin', 32 * 1024 * 1024);
    const [id] = (await enqueuePaths([file])).jobs;
    await waitForStatus(id, 'uploading');
    // The file changes under the upload, as when another program is still writing it.
    appendFileSync(file, randomBytes(1024));
    await waitForStatus(id, 'failed', 30_000);
    await expect(row(id).$('[data-testid="job-status"]')).toHaveText(expect.stringMatching(/changed|modified/i));
    await browser.waitUntil(
      async () => {
        for (const toast of await $$('[data-testid="toast"]')) if ((await toast.getText()).includes('growing.bin')) return true;
        return false;
      },
      { timeoutMsg: 'no notification of the failed upload' },
    );
    await saveScreenshot('ws-error');

    // The notification stays in the list after its toast is gone, with a Retry; the
    // writer is done, so Retry sends the file as it is now.
    await $('[data-testid="notifications-button"]').click();
    const entry = $(`[data-testid="notification"][data-job-id="${id}"]`);
    await entry.waitForDisplayed({ timeoutMsg: 'the failed upload is not in the notifications' });
    await expect(entry.$('[data-testid="notification-message"]')).toHaveText(expect.stringMatching(/changed/i));
    await saveScreenshot('ws-notifications');
    await entry.$('[data-testid="notification-retry"]').click();
    await waitForStatus(id, 'done', 60_000);
    await browser.keys('Escape');
    await $('[data-testid="notifications-dialog"]').waitForExist({ reverse: true, timeoutMsg: 'the notifications stayed open' });
    const copy = readFileSync(path.join(process.env.FERRY_DESTINATION_DIR!, 'growing.bin'));
    expect(copy.equals(readFileSync(file))).toBe(true);
    await saveScreenshot('ws-error-retried');
  });
});
