// Watched folders, from the window: a folder added in the view is watched, a file put
// in it goes up on its own, a paused folder waits and catches up when resumed, and
// removing the folder leaves what was uploaded where it is. The spec removes what it
// adds.
import { $, $$, browser, expect } from '@wdio/globals';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { saveScreenshot, waitForConnection } from '../helpers/app.js';

const watched = () => path.join(process.env.FERRY_E2E_RUN!, 'watched');
const uploaded = (name: string) => path.join(process.env.FERRY_DESTINATION_DIR!, name);

async function openView(): Promise<void> {
  await $('[data-testid="watched-folders-button"]').click();
  await $('[data-testid="watched-folders-dialog"]').waitForDisplayed();
}

async function closeView(): Promise<void> {
  await $('[data-testid="watched-folders-close"]').click();
  await $('[data-testid="watched-folders-dialog"]').waitForExist({ reverse: true });
}

async function folderState(): Promise<string> {
  return $('[data-testid="watched-folder-row"] [data-testid="watched-folder-state"]').getText();
}

/** Waits for the job of `name` to be Done in the queue. */
async function uploadedByTheWatch(name: string): Promise<void> {
  await browser.waitUntil(
    async () => {
      for (const row of await $$('[data-testid="job-row"]')) {
        const text = await row.getText();
        if (text.includes(name) && (await row.getAttribute('data-status')) === 'done') return true;
      }
      return false;
    },
    { timeout: 30_000, timeoutMsg: `${name} was not uploaded from the watched folder` },
  );
}

describe('watched folders', () => {
  before(async () => {
    mkdirSync(watched(), { recursive: true });
    await waitForConnection();
  });

  it('starts with none and says what watching does', async () => {
    await openView();
    await expect($('[data-testid="watched-folders-empty"]')).toBeDisplayed();
  });

  it('adds a folder, which is then watched', async () => {
    await $('[data-testid="watched-folder-add"]').click();
    await $('[data-testid="watched-folder-path-input"]').setValue(watched());
    await $('[data-testid="watched-folder-save"]').click();
    const row = $('[data-testid="watched-folder-row"]');
    await row.waitForDisplayed({ timeout: 10_000 });
    await expect(row.$('[data-testid="watched-folder-path"]')).toHaveText(expect.stringContaining(watched()));
    await browser.waitUntil(async () => (await folderState()) === 'Watching', {
      timeout: 15_000,
      timeoutMsg: 'the folder never said it was watching',
    });
    await saveScreenshot('watched-folders-watching');
  });

  it('uploads a file put in the folder, on its own', async () => {
    await closeView();
    writeFileSync(path.join(watched(), 'scan-001.txt'), 'a scanned page\n');
    await uploadedByTheWatch('scan-001.txt');
    expect(readFileSync(uploaded('scan-001.txt'), 'utf8')).toBe('a scanned page\n');
    await openView();
    await expect($('[data-testid="watched-folder-uploaded"]')).toHaveText('1 file uploaded', { wait: 10_000 });
  });

  it('waits while paused, and catches up when resumed', async () => {
    await $('[data-testid="watched-folder-pause"]').click();
    await browser.waitUntil(async () => (await folderState()) === 'Paused', { timeoutMsg: 'not paused' });
    // The count runs on from Ferry's start, paused or not.
    await expect($('[data-testid="watched-folder-uploaded"]')).toHaveText('1 file uploaded');
    writeFileSync(path.join(watched(), 'scan-002.txt'), 'written while paused\n');
    await saveScreenshot('watched-folders-paused');
    await $('[data-testid="watched-folder-pause"]').click();
    await closeView();
    await uploadedByTheWatch('scan-002.txt');
    expect(readFileSync(uploaded('scan-002.txt'), 'utf8')).toBe('written while paused\n');
  });

  it('removes the folder after asking; what was uploaded stays', async () => {
    await openView();
    await $('[data-testid="watched-folder-remove"]').click();
    await $('[data-testid="watched-folder-remove-confirm"]').click();
    await $('[data-testid="watched-folders-empty"]').waitForDisplayed({ timeout: 10_000 });
    expect(existsSync(uploaded('scan-001.txt'))).toBe(true);
    expect(existsSync(uploaded('scan-002.txt'))).toBe(true);
    await closeView();
  });
});
