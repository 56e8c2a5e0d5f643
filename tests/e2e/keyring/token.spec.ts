// A tus destination that wants a token, added in the window: the token goes to the
// keyring (never to the settings file), the connection test passes with it, made the
// default it takes the next file at once, without a restart, and after a restart Ferry
// uploads to it with the token read back from the keyring.
import { $, browser, expect } from '@wdio/globals';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { enqueuePaths, saveScreenshot, waitForConnection } from '../../helpers/app.js';

const endpoint = () => process.env.FERRY_E2E_TUS_ENDPOINT!;
const token = () => process.env.FERRY_E2E_TUS_TOKEN!;
const stored = () => path.join(process.env.FERRY_E2E_TUS_STORE!, 'files');

/** Enqueues a new file of `size` random bytes, waits for Done, and finds exactly one
 * byte-identical copy on the tus server (the sizes of the spec's files differ). */
async function uploadsToTheServer(name: string, size: number, screenshot: string): Promise<void> {
  const bytes = randomBytes(size);
  const file = path.join(process.env.FERRY_E2E_RUN!, 'fixtures', name);
  writeFileSync(file, bytes);
  const [id] = (await enqueuePaths([file])).jobs;
  const row = $(`[data-testid="job-row"][data-job-id="${id}"]`);
  await browser.waitUntil(async () => (await row.getAttribute('data-status')) === 'done', {
    timeout: 60_000,
    timeoutMsg: `the upload of ${name} to the token-protected server did not finish`,
  });
  await saveScreenshot(screenshot);
  const copies = readdirSync(stored()).filter((entry) => statSync(path.join(stored(), entry)).size === bytes.length);
  expect(copies.length).toBe(1);
  expect(readFileSync(path.join(stored(), copies[0]!)).equals(bytes)).toBe(true);
}

describe('a tus destination with a token, added in the window', () => {
  it('passes its connection test with the token, which stays out of the settings file', async () => {
    await waitForConnection();
    await $('[data-testid="destinations-button"]').click();
    await $('[data-testid="destination-add"]').click();
    await $('[data-testid="destination-name"]').setValue('Media');
    await $('[data-testid="destination-kind"]').selectByAttribute('value', 'tus');
    await $('[data-testid="destination-url"]').setValue(endpoint());
    await $('[data-testid="destination-auth"]').selectByAttribute('value', 'bearer');
    await $('[data-testid="destination-secret"]').setValue(token());
    const makeDefault = $('[data-testid="destination-make-default"]');
    if (!(await makeDefault.isSelected())) await makeDefault.click();
    await $('[data-testid="destination-save"]').click();
    await $('[data-testid="destination-form"]').waitForExist({ reverse: true, timeout: 15_000 });

    const row = $('[data-testid="destination-row"]');
    await expect(row.$('[data-testid="default-badge"]')).toBeDisplayed();
    await expect(row.$('[data-testid="destination-row-auth"]')).toHaveText('Bearer token');
    await row.$('[data-testid="destination-test"]').click();
    await expect(row.$('[data-testid="destination-test-result"]')).toHaveText(expect.stringContaining(`${endpoint()} answers`), {
      wait: 15_000,
    });
    await saveScreenshot('keyring-destination-tested');

    const settings = readFileSync(path.join(process.env.FERRY_CONFIG_DIR!, 'destinations.json'), 'utf8');
    expect(settings).toContain('"bearer"');
    expect(settings).not.toContain(token());
  });

  it('takes the files added from then on, without a restart', async () => {
    await $('[data-testid="destinations-close"]').click();
    await expect($('[data-testid="destination"]')).toHaveText(expect.stringContaining(`Uploads go to Media (${endpoint()})`));
    await uploadsToTheServer('live.bin', 2 * 1024 * 1024 + 7, 'keyring-live-default-done');
  });

  it('uploads to it after a restart, with the token from the keyring', async () => {
    // Quit the app and start it again (a new session launches a new app process): the
    // default destination applies at start.
    await browser.reloadSession();
    await waitForConnection();
    await uploadsToTheServer('clip.bin', 3 * 1024 * 1024 + 11, 'keyring-upload-done');
  });
});
