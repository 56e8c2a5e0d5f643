import { backoffDelay } from './backoff';
import { validateServerMessage } from './validate';
import type {
  ClientMessage,
  Command,
  CommandResult,
  ConnectionInfo,
  ProtocolError,
  ServerMessage,
  Snapshot,
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
  /** Commands waiting for their reply: those not sent yet and those sent but unanswered. */
  readonly queued: number;
  /** The queue shown comes from polling the app, since no socket could be opened. */
  readonly polling: boolean;
}

export const initialConnectionStatus: ConnectionStatus = Object.freeze({
  state: 'connecting',
  attempt: 0,
  lastError: null,
  nextRetryAt: null,
  queued: 0,
  polling: false,
});

/** Most commands that may wait for the connection; one more is refused. */
export const MAX_QUEUED_COMMANDS = 100;
/** How many times one command goes out before it is given up on. */
export const MAX_COMMAND_SENDS = 3;
/** Failed attempts in a row after which the queue is polled until a socket opens. */
export const POLL_AFTER_ATTEMPTS = 3;
/** How often the queue is polled while no socket is open. */
export const POLL_INTERVAL_MS = 1000;

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

/** How long acknowledgements are gathered into one message. */
export const ACK_GATHER_MS = 100;

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
  /** A message that could not be read and was dropped, with how many have been since the
   * connection was created. */
  onInvalidMessage?: (problem: string, dropped: number) => void;
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
  /** Reads the whole queue without a socket; when given, it is polled after
   * `POLL_AFTER_ATTEMPTS` failed attempts in a row, until a socket opens. */
  pollSnapshot?: () => Promise<Snapshot>;
  /** Each polled queue; it has no place in the sequence numbers of the socket. */
  onSnapshot?: (snapshot: Snapshot) => void;
  /** A poll that failed, and how many have failed since the connection was created. */
  onPollFailed?: (error: unknown, failedPolls: number) => void;
  /** How often to poll; `POLL_INTERVAL_MS` unless given. */
  pollIntervalMs?: number;
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

interface WaitingCommand {
  readonly id: string;
  /** The command message as sent, the same on every send so the engine sees one command. */
  readonly text: string;
  sends: number;
  /** Sent on the current socket and not answered yet. */
  inFlight: boolean;
  /** The reply deadline of the send in flight. */
  timer: unknown;
  resolve: (result: CommandResult) => void;
  reject: (error: CommandError) => void;
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

/**
 * The webview's link to the engine: connects, reconnects with exponential backoff and
 * full jitter, sends commands and matches their replies. Commands issued while no socket
 * is open wait for one; a command that goes unanswered is sent again with the same id,
 * which the engine takes as the same command. After a few failed attempts in a row the
 * queue is polled, if a way to poll was given, until a socket opens.
 */
export class Connection {
  private readonly options: ConnectionOptions;
  private readonly createSocket: (url: string, protocols: string[]) => SocketLike;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private socket: SocketLike | null = null;
  /** The engine answered the current socket's hello, so it knows this client. */
  private greeted = false;
  private retryTimer: unknown = null;
  private ackTimer: unknown = null;
  private readonly unsentAcks = new Set<number>();
  private openTimer: unknown = null;
  private stopped = true;
  private attempt = 0;
  private nextId = 0;
  private readonly idPrefix: string;
  /** Every command waiting for its reply, in the order it was issued. */
  private readonly commands = new Map<string, WaitingCommand>();
  private polling = false;
  /** Changes whenever polling stops, so the answer to a poll started before is ignored. */
  private pollRound = 0;
  private pollTimer: unknown = null;
  private failedPollCount = 0;
  private invalidMessageCount = 0;
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

  /** Messages dropped as unreadable since the connection was created. */
  get invalidMessages(): number {
    return this.invalidMessageCount;
  }

  /** Polls that failed since the connection was created. */
  get failedPolls(): number {
    return this.failedPollCount;
  }

  /** Starts connecting; does nothing if already started. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.setStatus({ state: 'connecting', attempt: 0, lastError: null, nextRetryAt: null });
    void this.connect();
  }

  /**
   * Closes the socket and stops reconnecting and polling; the state becomes offline and
   * every waiting command is rejected.
   */
  stop(reason = 'disconnected'): void {
    this.stopped = true;
    this.cancelTimers();
    this.stopPolling();
    const socket = this.socket;
    this.socket = null;
    this.greeted = false;
    if (socket) {
      this.detach(socket);
      socket.close(1000, 'client closing');
    }
    this.rejectAll();
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

  /**
   * Sends a command and resolves with its result, or rejects with what went wrong. While
   * no socket is open the command waits, up to `MAX_QUEUED_COMMANDS` of them, and goes
   * out once the engine has greeted the next one. Unanswered in time or cut off by a lost
   * connection, it goes out again with the same id, up to `MAX_COMMAND_SENDS` times.
   */
  send(command: Command): Promise<CommandResult> {
    if (this.stopped) {
      return Promise.reject(new CommandError('not_connected', 'Not connected to Ferry; the connection is closed.'));
    }
    // On an open socket the hello has gone out first and the engine reads a socket's
    // messages in order; only commands already waiting must not be overtaken.
    const sendNow = this.socketOpen() && (this.greeted || !this.anyUnsent());
    if (!sendNow && this.commands.size >= MAX_QUEUED_COMMANDS) {
      return Promise.reject(
        new CommandError(
          'not_connected',
          `Not connected to Ferry, and the queue of ${MAX_QUEUED_COMMANDS} commands waiting for the connection is full; wait for the connection to come back and try again.`,
        ),
      );
    }
    this.nextId += 1;
    const id = `${this.idPrefix}-${this.nextId}`;
    const message: ClientMessage = { type: 'command', id, command };
    return new Promise<CommandResult>((resolve, reject) => {
      const waiting: WaitingCommand = { id, text: JSON.stringify(message), sends: 0, inFlight: false, timer: null, resolve, reject };
      this.commands.set(id, waiting);
      if (sendNow) this.transmit(waiting);
      this.refreshStatus();
    });
  }

  private setStatus(status: Omit<ConnectionStatus, 'queued' | 'polling'>): void {
    this.current = {
      state: status.state,
      attempt: status.attempt,
      lastError: status.lastError,
      nextRetryAt: status.nextRetryAt,
      queued: this.commands.size,
      polling: this.polling,
    };
    try {
      this.options.onStatus(this.current);
    } catch (error) {
      // What the window does with the news must not stop the connection from working.
      console.error('A connection status listener failed:', error);
    }
  }

  /** Reports the waiting commands and polling when either changed since the last report. */
  private refreshStatus(): void {
    if (this.current.queued === this.commands.size && this.current.polling === this.polling) return;
    this.setStatus(this.current);
  }

  private socketOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this.current.state === 'open';
  }

  private anyUnsent(): boolean {
    for (const waiting of this.commands.values()) if (!waiting.inFlight) return true;
    return false;
  }

  private transmit(waiting: WaitingCommand): void {
    const socket = this.socket;
    if (!socket) return;
    waiting.sends += 1;
    waiting.inFlight = true;
    waiting.timer = this.setTimer(() => {
      this.unanswered(
        waiting,
        new CommandError('timeout', `Ferry did not answer the command after ${MAX_COMMAND_SENDS} tries; check the job and try again.`),
      );
      // The engine takes a repeated id as the same command, so asking again at once is safe
      // and settles a command whose message or reply went missing.
      if (this.greeted) this.flush();
      else this.refreshStatus();
    }, this.options.commandTimeoutMs ?? 30_000);
    try {
      socket.send(waiting.text);
    } catch (error) {
      this.unanswered(waiting, new CommandError('not_connected', `Could not send the command: ${String(error)}`));
    }
  }

  /**
   * Takes back a send that got no reply; the command waits to go out again, or is
   * rejected with `failure` when it has had all its sends.
   */
  private unanswered(waiting: WaitingCommand, failure: CommandError): void {
    if (!waiting.inFlight) return;
    this.stopReplyTimer(waiting);
    waiting.inFlight = false;
    if (waiting.sends >= MAX_COMMAND_SENDS) {
      this.commands.delete(waiting.id);
      waiting.reject(failure);
    }
  }

  /** Sends every waiting command not on its way, in the order they were issued. */
  private flush(): void {
    for (const waiting of this.commands.values()) {
      if (!waiting.inFlight && this.socketOpen()) this.transmit(waiting);
    }
    this.refreshStatus();
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
    this.greeted = false;
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
      // Polled state must not replace what this socket brings, however late a poll answers.
      this.stopPolling();
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
      this.greeted = false;
      this.clearOpenTimer();
      for (const waiting of this.commands.values()) {
        this.unanswered(
          waiting,
          new CommandError(
            'connection_lost',
            `Ferry did not answer the command after ${MAX_COMMAND_SENDS} tries; the connection was lost. Check the job and try again.`,
          ),
        );
      }
      if (!this.stopped) this.scheduleRetry(describeClose(event.code, event.reason));
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.dropInvalid('Ferry sent a binary message, which is not part of the protocol.');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.dropInvalid(`Ferry sent a message that is not valid JSON: ${data.slice(0, 80)}`);
      return;
    }
    const checked = validateServerMessage(parsed);
    if (!checked.ok) {
      this.dropInvalid(`Ferry sent a message that does not match the protocol (${checked.problem}).`);
      return;
    }
    this.handle(checked.message);
  }

  /** Counts, logs and reports a message that is dropped; it never reaches the window's state. */
  private dropInvalid(problem: string): void {
    this.invalidMessageCount += 1;
    console.warn(`Dropped message ${this.invalidMessageCount} from Ferry: ${problem}`);
    try {
      this.options.onInvalidMessage?.(problem, this.invalidMessageCount);
    } catch (error) {
      console.error('An invalid message listener failed:', error);
    }
  }

  private handle(parsed: ServerMessage): void {
    if (parsed.type === 'reply') {
      const waiting = this.commands.get(parsed.id);
      if (!waiting) return;
      this.commands.delete(parsed.id);
      this.stopReplyTimer(waiting);
      if (parsed.error) waiting.reject(new CommandError(parsed.error.code, parsed.error.message));
      else if (parsed.result) waiting.resolve(parsed.result);
      else waiting.reject(new CommandError('command_failed', 'Ferry answered the command without a result.'));
      this.refreshStatus();
      return;
    }
    if ((parsed.type === 'job' || parsed.type === 'change') && TERMINAL.has(parsed.job.status)) {
      // A job that ended must be acknowledged, whether it came whole or as a change, or
      // the engine sends it again; a repeat carries the same seq and the store applies it
      // once.
      this.acknowledge(parsed.seq);
    }
    this.options.onMessage(parsed);
    if (parsed.type === 'welcome' || parsed.type === 'resume') {
      // The state the commands act on is in place before their replies come.
      this.greeted = true;
      this.flush();
    }
  }

  private scheduleRetry(reason: string): void {
    this.cancelTimers();
    this.attempt += 1;
    const attempt = this.attempt;
    const delay = backoffDelay(attempt, this.random);
    // The attempt is scheduled before anyone hears of it, so that nothing a listener
    // does can leave the window saying "next try in 1 s" with no try coming.
    this.retryTimer = this.setTimer(() => {
      this.retryTimer = null;
      if (!this.stopped) this.beginRetry();
    }, delay);
    if (attempt >= POLL_AFTER_ATTEMPTS) this.startPolling();
    this.setStatus({ state: 'reconnecting', attempt, lastError: reason, nextRetryAt: this.now() + delay });
  }

  private beginRetry(): void {
    this.setStatus({ ...this.current, nextRetryAt: null });
    void this.connect();
  }

  private startPolling(): void {
    if (this.polling || !this.options.pollSnapshot) return;
    this.polling = true;
    const round = this.pollRound;
    this.pollTimer = this.setTimer(() => void this.poll(round), 0);
  }

  private stopPolling(): void {
    if (!this.polling) return;
    this.polling = false;
    this.pollRound += 1;
    if (this.pollTimer !== null) {
      this.clearTimer(this.pollTimer);
      this.pollTimer = null;
    }
  }

  private async poll(round: number): Promise<void> {
    this.pollTimer = null;
    const read = this.options.pollSnapshot;
    if (!read) return;
    try {
      const snapshot = await read();
      if (round === this.pollRound) this.options.onSnapshot?.(snapshot);
    } catch (error) {
      if (round === this.pollRound) {
        this.failedPollCount += 1;
        this.options.onPollFailed?.(error, this.failedPollCount);
      }
    }
    // The next poll waits for this one, so a slow answer never piles polls up.
    if (round === this.pollRound) this.pollTimer = this.setTimer(() => void this.poll(round), this.options.pollIntervalMs ?? POLL_INTERVAL_MS);
  }

  /**
   * Acknowledges `seq` together with the others that come within ACK_GATHER_MS: each
   * message counts against the engine's inbound rate limit, and 200 small files ending
   * within a second, acknowledged one by one, would get the socket closed.
   */
  private acknowledge(seq: number): void {
    this.unsentAcks.add(seq);
    this.ackTimer ??= this.setTimer(() => this.sendAcks(), ACK_GATHER_MS);
  }

  private sendAcks(): void {
    this.ackTimer = null;
    const [first, ...more] = this.unsentAcks;
    this.unsentAcks.clear();
    if (first === undefined || !this.socket || this.socket.readyState !== OPEN) return;
    const message: ClientMessage = more.length === 0 ? { type: 'ack', seq: first } : { type: 'acks', seqs: [first, ...more] };
    this.socket.send(JSON.stringify(message));
  }

  /** Acknowledgements meant for a socket that closed are dropped: the engine sends those events again. */
  private dropAcks(): void {
    if (this.ackTimer !== null) this.clearTimer(this.ackTimer);
    this.ackTimer = null;
    this.unsentAcks.clear();
  }

  private detach(socket: SocketLike): void {
    this.dropAcks();
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

  private stopReplyTimer(waiting: WaitingCommand): void {
    if (waiting.timer === null) return;
    this.clearTimer(waiting.timer);
    waiting.timer = null;
  }

  private rejectAll(): void {
    for (const waiting of this.commands.values()) {
      this.stopReplyTimer(waiting);
      waiting.reject(
        waiting.sends === 0
          ? new CommandError('not_connected', 'The connection to Ferry was closed before the command could be sent.')
          : new CommandError('connection_lost', 'The connection to Ferry closed before the command was answered.'),
      );
    }
    this.commands.clear();
  }
}
