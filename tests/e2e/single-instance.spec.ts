// A second launch with files, which is what a file manager's "Open with Ferry" runs,
// hands them to the running Ferry and exits: the running window queues and uploads them.
// Linux passes them over the session bus, so this spec runs under dbus-run-session.
import { browser, $, expect } from '@wdio/globals';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { saveScreenshot, waitForConnection } from '../helpers/app.js';

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
