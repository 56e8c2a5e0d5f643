import { backoffDelay } from './backoff';
import type {
  ClientMessage,
  Command,
  CommandResult,
  ConnectionInfo,
  ProtocolError,
  ServerMessage,
} from './generated/protocol';

export { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffCeiling, backoffDelay } from './backoff';

/** The subprotocol spoken with the engine. */
export const PROTOCOL = 'ferry.v1';
/** Prefix of the subprotocol that carries the launch token. */
export const TOKEN_PROTOCOL_PREFIX = 'ferry.token.';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'offline';

export interface ConnectionStatus {
  readonly state: ConnectionState;
  /** Number of the reconnection attempt under way or next; 0 while connected or on first contact. */
  readonly attempt: number;
  /** Why the last attempt failed or the socket closed, in words meant for the user. */
  readonly lastError: string | null;
  /** When the waiting reconnection attempt starts, in ms of the connection's clock; null
   * unless one is waiting, including while an attempt is under way. */
  readonly nextRetryAt: number | null;
}

export const initialConnectionStatus: ConnectionStatus = Object.freeze({
  state: 'connecting',
  attempt: 0,
  lastError: null,
  nextRetryAt: null,
});

/** The part of the WebSocket API the connection uses, so tests can stand in for it. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

/** The states a job never leaves by itself; the engine wants these acknowledged. */
const TERMINAL: ReadonlySet<string> = new Set(['done', 'failed', 'cancelled']);

/** The state a client holds, named in its hello so the engine can replay what it missed. */
export interface ResumePoint {
  readonly epoch: string;
  readonly lastSeq: number;
}

export interface ConnectionOptions {
  /** Where the engine listens and the token to show it. */
  getInfo: () => Promise<ConnectionInfo>;
  /** The state held now, if any; sent in the hello of every new socket. */
  getResume?: () => ResumePoint | null;
  /** Every server message except replies, which settle the command they answer; a
   * replayed or resent message may repeat a `seq` already seen, which the store drops. */
  onMessage: (message: ServerMessage) => void;
  /** Each change of state. */
  onStatus: (status: ConnectionStatus) => void;
  /** A message that could not be read. */
  onInvalidMessage?: (problem: string) => void;
  createSocket?: (url: string, protocols: string[]) => SocketLike;
  random?: () => number;
  /** The clock `nextRetryAt` is read on; Date.now unless given. */
  now?: () => number;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** How long a handshake may take before the attempt is abandoned. */
  openTimeoutMs?: number;
  /** How long a command may wait for its reply. */
  commandTimeoutMs?: number;
}

/** A command the engine refused or could not be asked. */
export class CommandError extends Error {
  readonly code: ProtocolError['code'] | 'not_connected' | 'connection_lost' | 'timeout';

  constructor(code: CommandError['code'], message: string) {
    super(message);
    this.name = 'CommandError';
    this.code = code;
  }
}

interface Pending {
  resolve: (result: CommandResult) => void;
  reject: (error: CommandError) => void;
  timer: unknown;
}

/** Words for a WebSocket close, for the connection badge and toasts. */
export function describeClose(code: number, reason: string): string {
  const known: Record<number, string> = {
    1000: 'the engine closed the connection',
    1001: 'Ferry is shutting down',
    1006: 'the connection dropped',
    1008: 'the engine refused messages it could not read',
    1009: 'a message was too large',
    1011: 'the engine hit an internal error',
    1013: 'the engine has too many connections',
    4408: 'the connection timed out',
    4429: 'too many messages were sent too quickly',
  };
  const words = reason.trim() || known[code] || 'the connection closed';
  return `${words} (code ${code})`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * A change is merged into a job the window holds, so it must name the job and bring the
 * status and figures every change carries; the other fields are optional.
 */
function isJobChange(value: unknown): boolean {
  return isObject(value) && typeof value.id === 'number' && typeof value.status === 'string' && isObject(value.progress);
}

function isServerMessage(value: unknown): value is ServerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { type?: unknown; seq?: unknown };
  if (typeof candidate.seq !== 'number') return false;
  switch (candidate.type) {
    case 'welcome':
      return typeof (value as { epoch?: unknown }).epoch === 'string' && typeof (value as { snapshot?: unknown }).snapshot === 'object';
    case 'resume':
      return typeof (value as { epoch?: unknown }).epoch === 'string' && typeof (value as { from_seq?: unknown }).from_seq === 'number';
    case 'metrics':
      return typeof (value as { metrics?: unknown }).metrics === 'object';
    case 'progress':
      return Array.isArray((value as { progress?: unknown }).progress) && typeof (value as { totals?: unknown }).totals === 'object';
    case 'job':
      return isObject((value as { job?: unknown }).job);
    case 'change':
      return isJobChange((value as { job?: unknown }).job);
    case 'totals':
      return isObject((value as { totals?: unknown }).totals);
    case 'reply':
      return typeof (value as { id?: unknown }).id === 'string';
    case 'error':
      return typeof (value as { error?: unknown }).error === 'object';
    default:
      return false;
  }
}

/**
 * The webview's link to the engine: connects, reconnects with exponential backoff and
 * full jitter, sends commands and matches their replies.
 */
export class Connection {
  private readonly options: ConnectionOptions;
  private readonly createSocket: (url: string, protocols: string[]) => SocketLike;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private socket: SocketLike | null = null;
  private retryTimer: unknown = null;
  private openTimer: unknown = null;
  private stopped = true;
  private attempt = 0;
  private nextId = 0;
  private readonly idPrefix: string;
  private readonly pending = new Map<string, Pending>();
  private current: ConnectionStatus = initialConnectionStatus;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.createSocket = options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => Date.now());
    this.setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms));
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
    this.idPrefix = Math.floor(this.random() * 0x100000000).toString(36);
  }

  get status(): ConnectionStatus {
    return this.current;
  }

  /** Starts connecting; does nothing if already started. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.setStatus({ state: 'connecting', attempt: 0, lastError: null, nextRetryAt: null });
    void this.connect();
  }

  /** Closes the socket and stops reconnecting; the state becomes offline. */
  stop(reason = 'disconnected'): void {
    this.stopped = true;
    this.cancelTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      socket.close(1000, 'client closing');
    }
    this.failPending(new CommandError('connection_lost', 'The connection to Ferry closed before the command was answered.'));
    this.setStatus({ state: 'offline', attempt: 0, lastError: reason, nextRetryAt: null });
  }

  /**
   * Starts the waiting reconnection attempt now instead of when its delay ends; the attempt
   * keeps its number. Does nothing unless an attempt is waiting.
   */
  retryNow(): void {
    if (this.retryTimer === null) return;
    this.clearTimer(this.retryTimer);
    this.retryTimer = null;
    this.beginRetry();
  }

  /** Sends a command and resolves with its result, or rejects with what went wrong. */
  send(command: Command): Promise<CommandResult> {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN || this.current.state !== 'open') {
      return Promise.reject(new CommandError('not_connected', 'Not connected to Ferry; wait for the connection to come back and try again.'));
    }
    this.nextId += 1;
    const id = `${this.idPrefix}-${this.nextId}`;
    const message: ClientMessage = { type: 'command', id, command };
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = this.setTimer(() => {
        if (this.pending.delete(id)) {
          reject(new CommandError('timeout', 'Ferry did not answer the command in time; check the job and try again.'));
        }
      }, this.options.commandTimeoutMs ?? 30_000);
      this.pending.set(id, { resolve, reject, timer });
      try {
        socket.send(JSON.stringify(message));
      } catch (error) {
        this.pending.delete(id);
        this.clearTimer(timer);
        reject(new CommandError('not_connected', `Could not send the command: ${String(error)}`));
      }
    });
  }

  private setStatus(status: ConnectionStatus): void {
    this.current = status;
    this.options.onStatus(status);
  }

  private async connect(): Promise<void> {
    let info: ConnectionInfo;
    try {
      info = await this.options.getInfo();
    } catch (error) {
      if (this.stopped) return;
      this.scheduleRetry(`could not get the engine's address: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (this.stopped) return;
    let socket: SocketLike;
    try {
      socket = this.createSocket(info.url, [PROTOCOL, TOKEN_PROTOCOL_PREFIX + info.token]);
    } catch (error) {
      this.scheduleRetry(`could not open a connection to ${info.url}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.socket = socket;
    this.openTimer = this.setTimer(() => {
      this.openTimer = null;
      if (this.socket === socket && socket.readyState !== OPEN) {
        this.detach(socket);
        this.socket = null;
        socket.close();
        this.scheduleRetry('the engine did not answer in time');
      }
    }, this.options.openTimeoutMs ?? 10_000);

    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.clearOpenTimer();
      // The engine expects a hello first, within its deadline; naming the state held lets
      // it replay only what was missed.
      const resume = this.options.getResume?.() ?? null;
      const hello: ClientMessage = resume
        ? { type: 'hello', epoch: resume.epoch, last_seq: resume.lastSeq }
        : { type: 'hello' };
      socket.send(JSON.stringify(hello));
      this.attempt = 0;
      this.setStatus({ state: 'open', attempt: 0, lastError: null, nextRetryAt: null });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      this.receive(event.data);
    };
    socket.onerror = () => {
      // A close event always follows, with the code; nothing to add here.
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.detach(socket);
      this.socket = null;
      this.clearOpenTimer();
      this.failPending(new CommandError('connection_lost', 'The connection to Ferry was lost before the command was answered; check the job and try again.'));
      if (!this.stopped) this.scheduleRetry(describeClose(event.code, event.reason));
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.options.onInvalidMessage?.('Ferry sent a binary message, which is not part of the protocol.');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.options.onInvalidMessage?.('Ferry sent a message that is not valid JSON.');
      return;
    }
    if (!isServerMessage(parsed)) {
      this.options.onInvalidMessage?.('Ferry sent a message this window does not understand.');
      return;
    }
    if (parsed.type === 'reply') {
      const pending = this.pending.get(parsed.id);
      if (!pending) return;
      this.pending.delete(parsed.id);
      this.clearTimer(pending.timer);
      if (parsed.error) pending.reject(new CommandError(parsed.error.code, parsed.error.message));
      else if (parsed.result) pending.resolve(parsed.result);
      else pending.reject(new CommandError('command_failed', 'Ferry answered the command without a result.'));
      return;
    }
    if ((parsed.type === 'job' || parsed.type === 'change') && TERMINAL.has(parsed.job.status)) {
      // A job that ended must be acknowledged, whether it came whole or as a change, or
      // the engine sends it again; a repeat carries the same seq and the store applies it
      // once.
      const ack: ClientMessage = { type: 'ack', seq: parsed.seq };
      this.socket?.send(JSON.stringify(ack));
    }
    this.options.onMessage(parsed);
  }

  private scheduleRetry(reason: string): void {
    this.cancelTimers();
    this.attempt += 1;
    const attempt = this.attempt;
    const delay = backoffDelay(attempt, this.random);
    this.setStatus({ state: 'reconnecting', attempt, lastError: reason, nextRetryAt: this.now() + delay });
    this.retryTimer = this.setTimer(() => {
      this.retryTimer = null;
      if (!this.stopped) this.beginRetry();
    }, delay);
  }

  private beginRetry(): void {
    this.setStatus({ ...this.current, nextRetryAt: null });
    void this.connect();
  }

  private detach(socket: SocketLike): void {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
  }

  private clearOpenTimer(): void {
    if (this.openTimer !== null) {
      this.clearTimer(this.openTimer);
      this.openTimer = null;
    }
  }

  private cancelTimers(): void {
    this.clearOpenTimer();
    if (this.retryTimer !== null) {
      this.clearTimer(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private failPending(error: CommandError): void {
    for (const [id, pending] of this.pending) {
      this.clearTimer(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }
}
