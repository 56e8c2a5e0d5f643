// Starts the test tus server (tests/tus-server/server.mjs, the official @tus/server) on
// 127.0.0.1 for the e2e configurations that upload to one.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const server = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tus-server', 'server.mjs');

/** A running tus server: its creation endpoint, and the process to stop at the end. */
export interface TusServer {
  endpoint: string;
  process: ChildProcess;
}

/**
 * Starts the server storing uploads in `dir`, its request log in `log`, and, when
 * `token` is given, refusing requests without that Bearer token. Resolves once it
 * prints its ready line.
 */
export function startTusServer(dir: string, log: string, token?: string): Promise<TusServer> {
  const args = [server, '--dir', dir, '--verbose', ...(token ? ['--token', token] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn('node', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr?.pipe(createWriteStream(log));
    const timer = setTimeout(() => reject(new Error('the tus server did not start within 20 s; run npm ci')), 20_000);
    child.once('exit', (code) => reject(new Error(`the tus server exited with ${code}; see ${log}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ endpoint: (JSON.parse(line) as { endpoint: string }).endpoint, process: child });
    });
  });
}
