// WebSocket clients run by the test itself, beside the window, as other local programs
// watching the same uploads would: native clients, with the token and no Origin.
import http from 'node:http';
import WebSocket from 'ws';
import type { ConnectionInfo, ServerMessage } from '../../ui/src/lib/generated/protocol.js';

const TERMINAL = new Set(['done', 'failed', 'cancelled']);

/** One watcher: the job ids it saw end, and the messages and bytes it received. */
export class Watcher {
  readonly ended = new Map<number, string>();
  messages = 0;
  bytes = 0;
  welcomed = false;
  private readonly socket: WebSocket;
  private readonly waiters: Array<() => void> = [];
  private readonly unacked: number[] = [];
  private ackTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: WebSocket.RawData) => {
      const text = data.toString();
      this.messages += 1;
      this.bytes += text.length;
      const message = JSON.parse(text) as ServerMessage;
      if (message.type === 'welcome') this.welcomed = true;
      if ((message.type === 'job' || message.type === 'change') && TERMINAL.has(message.job.status)) {
        this.ended.set(message.job.id, message.job.status);
        this.acknowledge(message.seq);
      }
      this.waiters.splice(0).forEach((wake) => wake());
    });
  }

  /**
   * Acknowledged, as the protocol asks (or the server resends it), together with the
   * others that end within 100 ms: one message each would trip the rate limit.
   */
  private acknowledge(seq: number): void {
    this.unacked.push(seq);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      const seqs = this.unacked.splice(0);
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'acks', seqs }));
    }, 100);
  }

  /** Connects, says hello and waits for the welcome. */
  static async connect(info: ConnectionInfo): Promise<Watcher> {
    const socket = new WebSocket(info.url, ['ferry.v1', `ferry.token.${info.token}`]);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const watcher = new Watcher(socket);
    socket.send(JSON.stringify({ type: 'hello' }));
    await watcher.until(() => watcher.welcomed, 'a welcome', 10_000);
    return watcher;
  }

  /** Resolves once `done()` holds, or rejects after `timeoutMs` naming `what`. */
  until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  /** Closes cleanly and waits for the server's answer. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      clearTimeout(this.ackTimer);
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.close(1000, 'done');
    });
  }
}

/** What the server answered to a WebSocket upgrade it refused. */
export interface Refusal {
  status: number;
  body: string;
}

/**
 * Asks for a WebSocket upgrade with the token and reports the refusal; rejects if the
 * server accepts it instead.
 */
export function refusedUpgrade(info: ConnectionInfo): Promise<Refusal> {
  const url = new URL(info.url);
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.from('ferry-e2e-probe!').toString('base64'),
        'sec-websocket-protocol': `ferry.v1, ferry.token.${info.token}`,
      },
    });
    request.on('upgrade', (_response, socket) => {
      socket.destroy();
      reject(new Error('the server accepted a connection over its limit'));
    });
    request.on('response', (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}
