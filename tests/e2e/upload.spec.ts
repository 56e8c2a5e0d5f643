// The walking skeleton end to end: two real files enqueued through the same entry point
// a drop uses, both progress bars reaching 100 %, status Done, and byte-identical copies.
// Then a second launch with a file, which is what a file manager's "Open with Ferry" runs:
// it hands the file to the running Ferry over the session bus and exits (this spec runs
// under dbus-run-session), and the running window queues and uploads it. It comes last:
// the checks before it count this run's jobs and log lines.
import { browser, $, $$, expect } from '@wdio/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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

/** Runs `program args` in `cwd` and resolves with its exit code, or fails after 30 s. */
function run(program: string, args: string[], cwd: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the second launch did not exit within 30 s; it printed: ${stderr}`));
    }, 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('launching Ferry a second time with files', () => {
  it('queues them in the running window, which uploads them, and the second launch exits', async () => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
      throw new Error('no session bus: run the end-to-end tests under dbus-run-session (scripts/test.sh does)');
    }
    await waitForConnection();
    const fixtures = path.join(process.env.FERRY_E2E_RUN!, 'fixtures');
    const name = 'opened-with-ferry.txt';
    const bytes = Buffer.from('handed over by a second launch\n'.repeat(1000));
    writeFileSync(path.join(fixtures, name), bytes);

    // A relative path, as a shell would pass it: the running Ferry resolves it against
    // the second launch's folder, not its own.
    const code = await run(process.env.FERRY_E2E_APPLICATION!, [name], fixtures);
    expect(code).toBe(0);

    const row = $(`//li[@data-testid="job-row"][.//*[contains(text(), "${name}")]]`);
    await row.waitForExist({ timeoutMsg: 'the running Ferry did not queue the file of the second launch' });
    await browser.waitUntil(async () => (await row.getAttribute('data-status')) === 'done', {
      timeoutMsg: 'the handed-over file did not reach Done',
    });
    await saveScreenshot('opened-by-second-launch');
    const copy = path.join(process.env.FERRY_DESTINATION_DIR!, name);
    expect(existsSync(copy)).toBe(true);
    expect(readFileSync(copy).equals(bytes)).toBe(true);
  });
});

describe('the About view', () => {
  const autostartEntry = path.join(os.homedir(), '.config', 'autostart', 'Ferry.desktop');

  after(() => {
    // Never leave the machine starting Ferry at login, even after a failure.
    rmSync(autostartEntry, { force: true });
  });

  it('shows the version and folders, and turns start at login on and off', async () => {
    const version = JSON.parse(readFileSync(path.resolve('tauri.conf.json'), 'utf8')).version as string;
    await $('[data-testid="about-button"]').click();
    const dialog = $('[data-testid="about-dialog"]');
    await dialog.waitForDisplayed();
    await expect($('[data-testid="about-version"]')).toHaveText(expect.stringContaining(`Version ${version}`));
    await expect($('[data-testid="about-log-dir"]')).toHaveText(process.env.FERRY_LOG_DIR!);
    await expect($('[data-testid="about-data-dir"]')).toHaveText(process.env.FERRY_DATA_DIR!);

    const toggle = $('[data-testid="start-at-login"]');
    expect(await toggle.isSelected()).toBe(false);
    expect(existsSync(autostartEntry)).toBe(false);
    await toggle.click();
    await browser.waitUntil(async () => (await toggle.isSelected()) && !(await toggle.getAttribute('disabled')), {
      timeoutMsg: 'start at login did not turn on',
    });
    expect(readFileSync(autostartEntry, 'utf8')).toContain(`Exec=${process.env.FERRY_E2E_APPLICATION}`);
    await saveScreenshot('about');
    await toggle.click();
    await browser.waitUntil(async () => !(await toggle.isSelected()), { timeoutMsg: 'start at login did not turn off' });
    expect(existsSync(autostartEntry)).toBe(false);

    await $('[data-testid="about-close"]').click();
    await dialog.waitForExist({ reverse: true });
  });
});
