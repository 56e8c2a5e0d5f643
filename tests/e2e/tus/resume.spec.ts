// Uploading to a real tus server from the app: live progress to Done, and an upload
// paused, the app quit and started again, then resumed from the server's offset.
import { browser, $, expect } from '@wdio/globals';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { enqueuePaths, saveScreenshot, waitForConnection } from '../../helpers/app.js';

const store = () => path.join(process.env.FERRY_E2E_TUS_STORE!, 'files');

/** The uploads on the server's disk: data files, without their `.json` info. */
function storedUploads(): string[] {
  return readdirSync(store()).filter((name) => !name.endsWith('.json'));
}

/** The server's request log, one line per request (`PATCH /files/ID 204 req-offset=N offset=M`). */
function requestLog(): string[] {
  return readFileSync(process.env.FERRY_E2E_TUS_LOG!, 'utf8').split('\n').filter(Boolean);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function statusOf(id: number): Promise<string | null> {
  return $(`[data-testid="job-row"][data-job-id="${id}"]`).getAttribute('data-status');
}

async function waitForStatus(id: number, status: string, timeout = 60_000): Promise<void> {
  await browser.waitUntil(async () => (await statusOf(id)) === status, {
    timeout,
    timeoutMsg: `job ${id} did not reach ${status} (it is ${await statusOf(id)})`,
  });
}

describe('uploading to a tus server', () => {
  it('shows the server as the destination and uploads a file to Done', async () => {
    await waitForConnection();
    await expect($('[data-testid="destination"]')).toHaveText(expect.stringContaining(process.env.FERRY_DESTINATION_URL!));
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const file = path.join(process.env.FERRY_E2E_RUN!, 'fixtures', 'report.bin');
    writeFileSync(file, bytes);
    const before = new Set(storedUploads());

    const report = await enqueuePaths([file]);
    const [id] = report.jobs;
    const row = $(`[data-testid="job-row"][data-job-id="${id}"]`);
    await browser.waitUntil(async () => (await statusOf(id)) === 'uploading', { timeoutMsg: 'never uploading' });
    await browser.waitUntil(async () => Number(await row.$('[role="progressbar"]').getAttribute('aria-valuenow')) > 0, {
      timeoutMsg: 'the progress bar never moved while uploading',
    });
    await waitForStatus(id, 'done');
    await expect(row.$('[role="progressbar"]')).toHaveAttribute('aria-valuenow', '100');

    const added = storedUploads().filter((name) => !before.has(name));
    expect(added).toHaveLength(1);
    expect(sha256(readFileSync(path.join(store(), added[0])))).toBe(sha256(bytes));
  });

  it('resumes from the server offset after a pause and a restart of the app', async () => {
    const bytes = randomBytes(16 * 1024 * 1024 + 5);
    const file = path.join(process.env.FERRY_E2E_RUN!, 'fixtures', 'footage.bin');
    writeFileSync(file, bytes);
    const before = new Set(storedUploads());

    const [id] = (await enqueuePaths([file])).jobs;
    const row = $(`[data-testid="job-row"][data-job-id="${id}"]`);
    await browser.waitUntil(async () => Number(await row.$('[role="progressbar"]').getAttribute('aria-valuenow')) >= 20, {
      timeout: 60_000,
      timeoutMsg: 'the upload never reached 20 %',
    });
    await saveScreenshot('tus-uploading');
    await row.$('[data-action="pause"]').click();
    await waitForStatus(id, 'paused', 30_000);
    await saveScreenshot('tus-paused');

    const [upload] = storedUploads().filter((name) => !before.has(name));
    // The server may still be writing what arrived just before the pause: wait until its
    // copy stops growing.
    let offsetAtPause = -1;
    await browser.waitUntil(
      async () => {
        const size = statSync(path.join(store(), upload)).size;
        const settled = size === offsetAtPause;
        offsetAtPause = size;
        return settled;
      },
      { interval: 500, timeoutMsg: 'the server copy kept growing after the pause' },
    );
    expect(offsetAtPause).toBeGreaterThan(0);
    expect(offsetAtPause).toBeLessThan(bytes.length);
    const requestsBeforeRestart = requestLog().length;

    // Quit the app and start it again (a new session launches a new app process).
    await browser.reloadSession();
    await waitForConnection();
    const restored = $(`[data-testid="job-row"][data-job-id="${id}"]`);
    await restored.waitForExist({ timeoutMsg: 'the paused job did not come back after the restart' });
    expect(await statusOf(id)).toBe('paused');
    await restored.$('[data-action="resume"]').click();
    await waitForStatus(id, 'done', 90_000);
    await saveScreenshot('tus-resumed-done');

    const stored = readFileSync(path.join(store(), upload));
    expect(sha256(stored)).toBe(sha256(bytes));
    // After the restart the app asked the server (HEAD) and continued at its offset:
    // no request started the file over.
    const after = requestLog().slice(requestsBeforeRestart);
    const firstPatch = after.find((line) => line.startsWith(`PATCH /files/${upload} 204`));
    expect(after.some((line) => line.startsWith(`HEAD /files/${upload} 200`))).toBe(true);
    expect(firstPatch).toContain(`req-offset=${offsetAtPause}`);
    expect(after.filter((line) => line.startsWith('POST'))).toHaveLength(0);
  });
});
