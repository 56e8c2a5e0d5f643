// The Destinations view: a destination added in the window is listed, its connection
// test reports what it found or exactly what went wrong, and removing it asks first.
// Destinations without credentials only, so no keyring is involved; the spec removes
// what it adds, leaving the run's configuration as it found it.
import { $, $$, expect } from '@wdio/globals';
import path from 'node:path';
import { saveScreenshot, waitForConnection } from '../helpers/app.js';

const archive = path.join(path.dirname(process.env.FERRY_DESTINATION_DIR!), 'archive');

async function addDestination(fill: () => Promise<void>): Promise<void> {
  await $('[data-testid="destination-add"]').click();
  await $('[data-testid="destination-form"]').waitForDisplayed();
  await fill();
  await $('[data-testid="destination-save"]').click();
  await $('[data-testid="destination-form"]').waitForExist({ reverse: true, timeout: 10_000 });
}

async function rowNamed(name: string): Promise<WebdriverIO.Element> {
  for (const row of await $$('[data-testid="destination-row"]')) {
    if ((await row.$('[data-testid="destination-row-name"]').getText()) === name) return row;
  }
  throw new Error(`no destination named ${name} is listed`);
}

async function removeDestination(name: string): Promise<void> {
  const row = await rowNamed(name);
  const id = await row.getAttribute('data-id');
  await row.$('[data-testid="destination-remove"]').click();
  // One confirmation at a time, inside the row being removed.
  await $('[data-testid="remove-confirm-button"]').click();
  await $(`[data-testid="destination-row"][data-id="${id}"]`).waitForExist({
    reverse: true,
    timeout: 10_000,
    timeoutMsg: `${name} was still listed after its removal`,
  });
}

describe('the Destinations view', () => {
  before(async () => {
    await waitForConnection();
    await $('[data-testid="destinations-button"]').click();
    await $('[data-testid="destinations-dialog"]').waitForDisplayed();
  });

  it('starts empty and says where uploads go meanwhile', async () => {
    await expect($('[data-testid="destinations-empty"]')).toBeDisplayed();
    await saveScreenshot('destinations-empty');
  });

  it('adds a folder and its test finds it writable', async () => {
    await addDestination(async () => {
      await $('[data-testid="destination-name"]').setValue('Archive');
      await $('[data-testid="destination-kind"]').selectByAttribute('value', 'local_folder');
      await $('[data-testid="destination-path"]').setValue(archive);
      // The first destination is offered as the default; a default would send the later
      // specs' uploads elsewhere, so this one is not.
      const makeDefault = $('[data-testid="destination-make-default"]');
      if (await makeDefault.isSelected()) await makeDefault.click();
    });
    const row = await rowNamed('Archive');
    await expect(row.$('[data-testid="destination-row-kind"]')).toHaveText('Folder');
    await expect(row.$('[data-testid="destination-row-location"]')).toHaveText(archive);
    await row.$('[data-testid="destination-test"]').click();
    const result = row.$('[data-testid="destination-test-result"]');
    await expect(result).toHaveText(expect.stringContaining(`can write to ${archive}`), { wait: 10_000 });
    await saveScreenshot('destinations-folder-tested');
  });

  it('says exactly why a tus server cannot be reached', async () => {
    await addDestination(async () => {
      await $('[data-testid="destination-name"]').setValue('Nowhere');
      await $('[data-testid="destination-kind"]').selectByAttribute('value', 'tus');
      // Port 1 on loopback: nothing listens there, so the connection is refused.
      await $('[data-testid="destination-url"]').setValue('http://127.0.0.1:1/files/');
    });
    const row = await rowNamed('Nowhere');
    await row.$('[data-testid="destination-test"]').click();
    const result = row.$('[data-testid="destination-test-result"]');
    await expect(result).toHaveText(expect.stringContaining('refused'), { wait: 15_000 });
    await saveScreenshot('destinations-tus-refused');
  });

  it('refuses a destination without an address and keeps what was typed', async () => {
    await $('[data-testid="destination-add"]').click();
    await $('[data-testid="destination-name"]').setValue('Half done');
    await $('[data-testid="destination-kind"]').selectByAttribute('value', 'tus');
    await $('[data-testid="destination-save"]').click();
    await expect($('[data-testid="destination-form-error"]')).toBeDisplayed();
    await expect($('[data-testid="destination-name"]')).toHaveValue('Half done');
    await saveScreenshot('destinations-form-error');
    await $('[data-testid="destination-cancel"]').click();
  });

  it('removes what it added after asking', async () => {
    await removeDestination('Nowhere');
    await removeDestination('Archive');
    await expect($('[data-testid="destinations-empty"]')).toBeDisplayed();
  });
});
