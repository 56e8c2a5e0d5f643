// The window's client against the real progress server, started by `ferry serve` on
// 127.0.0.1 with a folder destination: the hello, commands and their replies,
// acknowledgements, the state the store builds from the stream, a server restart with the
// resume that follows, and a refused token. Needs the `ferry` binary: FERRY_CLI names it,
// or it is looked for in the cargo target folder (`cargo build -p ferry-cli`).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Connection, type ConnectionStatus, type SocketLike } from './connection';
import type { ConnectionInfo, ServerMessage } from './generated/protocol';
import { applyMessage, initialState, resumePoint, type QueueState } from './store';

const repository = fileURLToPath(new URL('../../..', import.meta.url));

function ferryBinary(): string {
  const named = process.env.FERRY_CLI;
  if (named) return named;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repository, 'target');
  const found = ['debug', 'release'].map((profile) => path.join(target, profile, 'ferry')).find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`no ferry binary in ${target}: build it with \`cargo build -p ferry-cli\` or name it in FERRY_CLI`);
  return found;
}

/** Polls `check` every 20 ms until it holds, failing with `what` after `timeoutMs`. */
async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Served {
  readonly process: ChildProcess;
  readonly connectionFile: string;
  readonly stopped: Promise<number | null>;
}

const folders: string[] = [];
const processes: ChildProcess[] = [];
const connections: Connection[] = [];

function tempFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'ferry-ui-serve-'));
  folders.push(folder);
  return folder;
}

/** Starts `ferry serve` with its data, destination and connection file under `folder`. */
async function serve(folder: string): Promise<Served> {
  const connectionFile = path.join(folder, 'connection.json');
  rmSync(connectionFile, { force: true });
  const child = spawn(
    ferryBinary(),
    ['serve', '--to', path.join(folder, 'dest'), '--data-dir', path.join(folder, 'data'), '--connection-file', connectionFile],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } },
  );
  processes.push(child);
  const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exited = false;
  void stopped.then(() => (exited = true));
  await until('the connection file of ferry serve', () => exited || existsSync(connectionFile));
  if (exited) throw new Error('ferry serve exited before it wrote its connection file');
  return { process: child, connectionFile, stopped };
}

function readInfo(connectionFile: string): ConnectionInfo {
  return JSON.parse(readFileSync(connectionFile, 'utf8')) as ConnectionInfo;
}

/** A client as the window builds it, with the store's reducer holding the state. */
function client(getInfo: () => Promise<ConnectionInfo>) {
  const seen = { state: initialState as QueueState, statuses: [] as ConnectionStatus[], invalid: [] as string[], messages: [] as ServerMessage[] };
  const connection = new Connection({
    getInfo,
    getResume: () => resumePoint(seen.state),
    onMessage: (message) => {
      seen.messages.push(message);
      seen.state = applyMessage(seen.state, message);
    },
    onStatus: (status) => seen.statuses.push(status),
    onInvalidMessage: (problem) => seen.invalid.push(problem),
    // ws speaks the browser's WebSocket interface; Node 20 has no WebSocket of its own.
    createSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
    commandTimeoutMs: 5_000,
  });
  connections.push(connection);
  return { connection, seen, status: () => connection.status };
}

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.stop();
  await Promise.all(
    processes.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

describe('the window client against ferry serve', () => {
  it('is welcomed, enqueues a file by command, and ends with the state the server holds', async () => {
    const folder = tempFolder();
    const served = await serve(folder);
    const { connection, seen, status } = client(() => Promise.resolve(readInfo(served.connectionFile)));
    connection.start();
    await until('the socket to open', () => status().state === 'open');
    await until('the welcome', () => seen.state.epoch !== null);

    const file = path.join(folder, 'report.bin');
    writeFileSync(file, Buffer.alloc(300_000, 7));
    const result = await connection.send({ action: 'enqueue', paths: [file] });
    if (result.kind !== 'enqueued') throw new Error(`unexpected result ${result.kind}`);
    const [id] = result.report.jobs;
    await until('the upload to end', () => seen.state.jobs.find((job) => job.id === id)?.status === 'done');

    const shown = seen.state.jobs.find((job) => job.id === id);
    expect(shown?.size).toBe(300_000);
    expect(shown?.progress.current).toBe(300_000);
    expect(readFileSync(path.join(folder, 'dest', 'report.bin')).length).toBe(300_000);
    expect(seen.state.totals.done).toBe(1);
    expect(seen.invalid).toEqual([]);
    // Sequence numbers only go up within the run.
    const seqs = seen.messages.map((message) => message.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('comes back after the server restarts, and the state is the restarted server’s', async () => {
    const folder = tempFolder();
    let served = await serve(folder);
    const { connection, seen, status } = client(() => Promise.resolve(readInfo(served.connectionFile)));
    connection.start();
    await until('the welcome', () => seen.state.epoch !== null);
    const file = path.join(folder, 'before-restart.txt');
    writeFileSync(file, 'kept across the restart\n');
    const result = await connection.send({ action: 'enqueue', paths: [file] });
    if (result.kind !== 'enqueued') throw new Error(`unexpected result ${result.kind}`);
    await until('the upload to end', () => seen.state.totals.done === 1);
    const firstEpoch = seen.state.epoch;

    served.process.kill('SIGTERM');
    expect(await served.stopped).toBe(0);
    await until('the client to notice', () => status().state === 'reconnecting');
    // The server said it was going away.
    expect(seen.statuses.find((s) => s.state === 'reconnecting')?.lastError).toContain('1001');

    served = await serve(folder);
    connection.retryNow();
    await until('the socket to open again', () => status().state === 'open', 30_000);
    await until('the new run’s welcome', () => seen.state.epoch !== firstEpoch);
    // A new run: the client was sent the whole state again, and the finished job is in it.
    expect(seen.state.jobs.map((job) => [job.name, job.status])).toEqual([['before-restart.txt', 'done']]);
    expect(seen.invalid).toEqual([]);
  });

  it('is refused with a wrong token, keeps trying, and says why', async () => {
    const folder = tempFolder();
    const served = await serve(folder);
    const { connection, seen, status } = client(() => Promise.resolve({ ...readInfo(served.connectionFile), token: 'not-the-token' }));
    connection.start();
    await until('a failed attempt', () => status().state === 'reconnecting' && status().attempt >= 1);
    expect(seen.state.epoch).toBeNull();
    expect(seen.messages).toEqual([]);
    expect(status().lastError).toMatch(/code \d+/);
  });
});
