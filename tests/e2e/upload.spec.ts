// The walking skeleton end to end: two real files enqueued through the same entry point
// a drop uses, both progress bars reaching 100 %, status Done, and byte-identical copies.
import { browser, $, $$, expect } from '@wdio/globals';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { emitDragEvent, enqueuePaths, saveScreenshot, waitForConnection } from '../helpers/app.js';

describe('dropping files on Ferry', () => {
  it('uploads two files with live progress to Done and byte-identical copies', async () => {
    const run = process.env.FERRY_E2E_RUN!;
    const sources = [
      { name: 'holiday-photos.bin', bytes: randomBytes(6 * 1024 * 1024 + 123) },
      { name: 'notes.txt', bytes: Buffer.from('Ferry end-to-end fixture\n'.repeat(40_000)) },
    ].map(({ name, bytes }) => {
      const file = path.join(run, 'fixtures', name);
      writeFileSync(file, bytes);
      return { name, file, bytes };
    });

    await waitForConnection();
    await expect($('[data-testid="destination"]')).toHaveText(`Uploads go to ${process.env.FERRY_DESTINATION_DIR}`);
    await saveScreenshot('empty');
    const report = await enqueuePaths(sources.map((s) => s.file));
    expect(report.jobs).toHaveLength(2);
    expect(report.skipped).toEqual([]);

    for (const id of report.jobs) {
      const row = $(`[data-testid="job-row"][data-job-id="${id}"]`);
      await row.waitForExist();
      await browser.waitUntil(async () => (await row.getAttribute('data-status')) === 'done', {
        timeoutMsg: `job ${id} did not reach Done`,
      });
      await expect(row.$('[role="progressbar"]')).toHaveAttribute('aria-valuenow', '100');
      await expect(row.$('[data-testid="job-status"]')).toHaveText(expect.stringContaining('Done'));
    }
    await expect($$('[data-testid="job-row"]')).toBeElementsArrayOfSize(2);
    await saveScreenshot('upload-done');

    const destination = process.env.FERRY_DESTINATION_DIR!;
    for (const source of sources) {
      const copy = readFileSync(path.join(destination, source.name));
      expect(copy.equals(source.bytes)).toBe(true);
    }
  });

  it('highlights the whole window while files are dragged over it', async () => {
    const overlay = $('[data-testid="drop-overlay"]');
    await expect(overlay).not.toBeExisting();
    await emitDragEvent('enter', ['/tmp/dragged.txt']);
    await overlay.waitForDisplayed({ timeoutMsg: 'no highlight while files were dragged over the window' });
    await saveScreenshot('drag-over');
    await emitDragEvent('leave');
    await overlay.waitForExist({ reverse: true, timeoutMsg: 'the highlight stayed after the drag left' });
  });

  it('writes its log to a rolling file in the log folder it created', async () => {
    const logs = process.env.FERRY_LOG_DIR!;
    const files = readdirSync(logs).filter((name) => name.startsWith('ferry') && name.endsWith('.log'));
    expect(files).toHaveLength(1);
    const log = readFileSync(path.join(logs, files[0]), 'utf8');
    expect(log).toContain('progress server listening');
    expect(log).toContain('holiday-photos.bin');
    expect(log).toMatch(/batch finished.*done=2.*failed=0/);
  });

  it('printed no error about its log folder and did not panic', async () => {
    const output = readFileSync(process.env.FERRY_E2E_APP_OUTPUT!, 'utf8');
    expect(output).toContain('starting Ferry');
    expect(output).not.toContain('Error reading the log directory');
    expect(output).not.toContain('panicked');
  });
});
