// The window's connection to the engine's progress socket: how it is made, who may make
// one, and what the window does when it is lost for real (the e2e build's
// `e2e_stop_server` closes every socket and frees the port, as a crash of the server
// would) and when it comes back.
import { browser, $, expect } from '@wdio/globals';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { enqueuePaths, invoke, reconnectNow, saveScreenshot, waitForConnection } from '../../helpers/app.js';
import { connectionInfo, firstOfType, socketSession, tokenProtocol, type SocketSession } from '../../helpers/socket.js';
import { disconnectState, invalidDataError, invalidFrame } from '../../fixtures/websocket-data.js';

const badge = () => $('[data-testid="connection-badge"]');

async function badgeState(): Promise<{ state: string | null; attempt: number }> {
  const element = badge();
  return {
    state: await element.getAttribute('data-state'),
    attempt: Number(await element.getAttribute('data-attempt')),
  };
}

describe('the connection to the engine', () => {
  it('initial connection establishment: the window connects at start and says so', async () => {
    await waitForConnection();
    await expect(badge()).toHaveText(expect.stringContaining('Connected'));
    await expect(badge()).toHaveAttribute('data-attempt', '0');
    await expect($('[data-testid="connection-retry"]')).not.toBeExisting();
    await saveScreenshot('ws-idle-connected');
  });

  it('authentication flow: the window is let in with its token; no token or a wrong one is refused', async () => {
    const info = await connectionInfo();
    const hello = JSON.stringify({ type: 'hello' });

    const withoutToken = await socketSession(info.url, { protocols: ['ferry.v1'] });
    expect(withoutToken.opened).toBe(false);
    expect(withoutToken.received).toEqual([]);

    const wrong = info.token.slice(0, -4) + (info.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const withWrongToken = await socketSession(info.url, { protocols: ['ferry.v1', tokenProtocol(wrong)] });
    expect(withWrongToken.opened).toBe(false);

    // The UI's own way: the same subprotocols it offers, then a hello, then the welcome
    // that holds the queue. Anything that is not a ferry.v1 message gets an error that
    // names what was wrong, and the connection stays.
    const session = await socketSession(info.url, {
      protocols: ['ferry.v1', tokenProtocol(info.token)],
      send: [
        { frame: hello, until: 'welcome' },
        { frame: invalidFrame, until: 'error' },
      ],
      closeAtEnd: true,
    });
    expect(session.opened).toBe(true);
    expect(session.received[0].type).toBe('welcome');
    const { error } = firstOfType(session, 'error');
    expect(error.code).toBe(invalidDataError(0).error.code);
    expect(error.message).toContain('not a valid ferry.v1 message');
    expect(session.closeCode).toBe(1000);
  });

  it('clean disconnection: a client closing with 1000 gets a clean close, and its connection is freed', async () => {
    const info = await connectionInfo();
    const protocols = ['ferry.v1', tokenProtocol(info.token)];
    const metricsOf = (session: SocketSession) => firstOfType(session, 'metrics').metrics;
    const plan = {
      protocols,
      send: [
        { frame: JSON.stringify({ type: 'hello' }), until: 'welcome' },
        { frame: JSON.stringify({ type: 'metrics' }), until: 'metrics' },
      ],
      closeAtEnd: true,
    };
    const first = await socketSession(info.url, plan);
    expect(first.wasClean).toBe(true);
    expect(first.closeCode).toBe(1000);
    // The window's socket and this one.
    expect(metricsOf(first).connections_open).toBe(2);
    // The server frees the first one as its close completes; a later client sees the
    // count back where it was.
    let open = 0;
    await browser.waitUntil(
      async () => {
        open = metricsOf(await socketSession(info.url, plan)).connections_open;
        return open === 2;
      },
      { timeoutMsg: `the closed connection was not freed: ${open} open` },
    );
    // And the window itself was never disturbed.
    await expect(badge()).toHaveAttribute('data-state', 'open');
  });

  it('connection loss handling and reconnection attempts: the badge says so, counts the attempts, and the window catches up once back', async () => {
    const before = await connectionInfo();
    await invoke('e2e_stop_server');
    await browser.waitUntil(async () => (await badgeState()).state === 'reconnecting', {
      timeoutMsg: 'the badge never said the connection was lost',
    });
    // The server went away cleanly (1001), and the window says why. The toast keeps the
    // first reason; the badge's title moves on to each later attempt's (1006 while down).
    await expect($('[data-testid="toast"][data-kind="error"]')).toHaveText(expect.stringContaining('code 1001'));
    await browser.waitUntil(async () => (await badgeState()).attempt >= disconnectState.attempt, {
      timeout: 30_000,
      timeoutMsg: `fewer than ${disconnectState.attempt} reconnection attempts while the server was down`,
    });
    await expect(badge()).toHaveText(expect.stringMatching(/Reconnecting \(attempt \d+\)/));
    await expect($('[data-testid="connection-retry"]')).toBeDisplayed();
    await saveScreenshot('ws-reconnecting');

    // Work goes on while the window is cut off: a file added now must show once back.
    const file = path.join(process.env.FERRY_E2E_RUN!, 'fixtures', 'while-offline.txt');
    writeFileSync(file, 'added while the window had no connection\n');
    const [id] = (await enqueuePaths([file])).jobs;

    await invoke('e2e_start_server');
    const after = await connectionInfo();
    expect(after.url).not.toBe(before.url);
    // A token from before the restart, replayed, opens nothing.
    const replayed = await socketSession(after.url, { protocols: ['ferry.v1', tokenProtocol(before.token)] });
    expect(replayed.opened).toBe(false);
    // No need to wait out the backoff: Retry now tries at once.
    await reconnectNow();
    await waitForConnection();
    await expect(badge()).toHaveAttribute('data-attempt', '0');
    const row = $(`[data-testid="job-row"][data-job-id="${id}"]`);
    await row.waitForExist({ timeoutMsg: 'the file added while offline never showed after the reconnection' });
    await browser.waitUntil(async () => (await row.getAttribute('data-status')) === 'done', {
      timeoutMsg: 'the file added while offline did not reach Done',
    });
    await saveScreenshot('ws-reconnected');
  });
});
