import { CommandError, Connection, initialConnectionStatus, type ConnectionStatus } from './connection';
import type { Command, EnqueueReport, JobId, JobView, ServerMessage, Snapshot } from './generated/protocol';
import { plural } from './format';
import { FrameBatch, nextFrame, type FrameScheduler } from './frame-batch';
import { applyMessages, applyPolledSnapshot, findJob, initialState, isLoaded, resumePoint, type QueueState } from './store';
import {
  connectionInfo,
  destinationDir,
  enqueuePaths,
  errorText,
  inTauri,
  onDragHover,
  pickFiles,
  pickFolders,
  snapshot,
  startupNotice,
} from './tauri';
import { SvelteSet } from 'svelte/reactivity';
import { Notifications, type NotificationKind } from './notifications.svelte';
import { Toasts, type ToastInput } from './toasts.svelte';

export type JobAction = Extract<Command, { job_id: JobId }>['action'];

const VERBS: Record<JobAction, string> = {
  pause: 'pause',
  resume: 'resume',
  cancel: 'cancel',
  retry: 'retry',
};

/** Most lines a toast lists before summing up the rest. */
const DETAIL_LINES = 5;

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((part) => part.length > 0);
  return parts[parts.length - 1] ?? path;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function listed(lines: string[]): string[] {
  if (lines.length <= DETAIL_LINES) return lines;
  return [...lines.slice(0, DETAIL_LINES), `and ${lines.length - DETAIL_LINES} more`];
}

/** The window's state and everything it can do: the queue, the connection, toasts and notifications. */
export class FerryApp {
  queue = $state.raw<QueueState>(initialState);
  connection = $state.raw<ConnectionStatus>(initialConnectionStatus);
  /** Files are being dragged over the window. */
  dragging = $state(false);
  /** Jobs with a command waiting for its answer. */
  readonly busy = new SvelteSet<JobId>();
  /** A file or folder dialog, or the enqueue that follows it, is under way. */
  adding = $state(false);
  /** Where uploads land, once the app has said. */
  destination = $state<string | null>(null);

  readonly toasts = new Toasts();
  /** Every error shown in a toast, kept after the toast is gone. */
  readonly notifications = new Notifications();
  /** True inside the Ferry app; false in a plain browser, where nothing can connect. */
  readonly embedded: boolean;

  private link: Connection | null = null;
  private everOpen = false;
  /** The failures the failure toast on screen tells of. */
  private failures: { jobId: JobId; name: string; error: string }[] = [];
  private readonly cleanups: (() => void)[] = [];
  /**
   * Queue updates received and not applied yet. A busy engine sends many a frame (a
   * thousand jobs at twenty figures a second); applied one by one, each would make the
   * page work out and draw a state nobody sees.
   */
  private readonly updates: FrameBatch<ServerMessage>;

  /**
   * @param embedded Inside the Ferry app, so there is an engine to connect to.
   * @param schedule When received queue updates are applied: at the next animation
   *   frame unless given, so that tests can choose the moment.
   */
  constructor(embedded: boolean = inTauri(), schedule: FrameScheduler = nextFrame) {
    this.embedded = embedded;
    this.updates = new FrameBatch((messages) => this.apply(messages), schedule);
  }

  /** Connected to the engine, so progress is live. */
  get online(): boolean {
    return this.connection.state === 'open';
  }

  /** Commands can be issued: sent now, or kept until the connection comes back. */
  get canSend(): boolean {
    return this.link !== null && this.connection.state !== 'offline';
  }

  /** The queue is known, from the engine's welcome or from polling. */
  get loaded(): boolean {
    return isLoaded(this.queue);
  }

  /** Asks the backend where files added now upload (it changes with the default destination). */
  refreshDestination(): void {
    if (!this.embedded) return;
    destinationDir().then(
      (folder) => (this.destination = folder),
      () => (this.destination = null),
    );
  }

  start(): void {
    if (!this.embedded) {
      this.connection = {
        state: 'offline',
        attempt: 0,
        lastError: 'This window is not running inside the Ferry app, so there is no engine to talk to.',
        nextRetryAt: null,
        queued: 0,
        polling: false,
      };
      return;
    }
    this.refreshDestination();
    startupNotice().then(
      (notice) => {
        if (notice) {
          // Kept until dismissed: uploads are going somewhere the user did not choose.
          this.showError('startup', { title: 'Not uploading to the default destination', message: notice });
        }
      },
      () => undefined,
    );
    const link = new Connection({
      getInfo: connectionInfo,
      // Everything received counts, so the engine does not send again what is on its way in.
      getResume: () => {
        this.updates.flush();
        return resumePoint(this.queue);
      },
      onMessage: (message) => this.receive(message),
      onStatus: (status) => this.statusChanged(status),
      pollSnapshot: snapshot,
      onSnapshot: (polled) => this.receiveSnapshot(polled),
      onPollFailed: (error, failedPolls) =>
        console.warn(`Could not poll Ferry's queue (${plural(failedPolls, 'failed poll', 'failed polls')} so far): ${errorText(error)}`),
      // Dropped messages are counted in one toast rather than one toast each.
      onInvalidMessage: (problem, dropped) =>
        this.showError('engine', {
          title: 'Unreadable message from Ferry',
          message: `${problem} ${plural(dropped, 'message has', 'messages have')} been dropped so far.`,
          key: 'invalid-message',
        }),
    });
    this.link = link;
    link.start();

    // A user coming back to the window wants to see the engine now, not after the rest of
    // a backoff that may have grown to many seconds while they were away.
    const retryOnFocus = () => link.retryNow();
    window.addEventListener('focus', retryOnFocus);
    this.cleanups.push(() => window.removeEventListener('focus', retryOnFocus));

    let stopped = false;
    this.cleanups.push(() => {
      stopped = true;
    });
    onDragHover((active) => {
      this.dragging = active;
    })
      .then((unlisten) => {
        if (stopped) unlisten();
        else this.cleanups.push(unlisten);
      })
      .catch((error: unknown) => {
        this.toasts.show({
          kind: 'warning',
          title: 'Drag and drop is unavailable',
          message: `${sentence(errorText(error))} Use Add files or Add folder instead.`,
        });
      });
  }

  /**
   * Disconnects and stops listening. Updates not applied yet are dropped with their frame:
   * the window is going away, and should it start again, its resume point names only what
   * was applied, so the engine sends the rest again.
   */
  stop(): void {
    this.updates.clear();
    this.link?.stop();
    this.link = null;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  /** Starts the waiting reconnection attempt at once; does nothing unless one is waiting. */
  retryNow(): void {
    this.link?.retryNow();
  }

  /**
   * Takes one server message: problems go to toasts at once; updates to the queue are
   * applied at the next frame, together with the others received before it, in the order
   * they came. A welcome or resume is applied at once, after what is waiting: the
   * connection sends the commands kept for it next, and their replies must find the state
   * the engine greeted the socket with.
   */
  receive(message: ServerMessage): void {
    switch (message.type) {
      case 'error':
        this.showError('engine', { title: 'Ferry reported a problem', message: sentence(message.error.message) });
        return;
      case 'welcome':
      case 'resume':
        this.updates.flush();
        this.apply([message]);
        return;
      case 'reply':
      case 'metrics':
        // Nothing for the queue: a frame asked for them would have nothing to do.
        return;
      default:
        this.updates.push(message);
    }
  }

  /**
   * Applies the queue updates waiting for the next frame now, for code that must act on
   * the queue as last received rather than as last drawn.
   */
  flushUpdates(): void {
    this.updates.flush();
  }

  /** Replaces the queue with one read by polling, while no socket can be opened. */
  receiveSnapshot(polled: Snapshot): void {
    // What the last socket sent came before the poll; the poll has the final word.
    this.updates.flush();
    this.queue = applyPolledSnapshot(this.queue, polled);
  }

  /**
   * Applies messages in order and sets the queue once, so that the page redraws once
   * however many there are; failures are told of in the same order, once the queue
   * shows them.
   */
  private apply(messages: readonly ServerMessage[]): void {
    const { state, failed } = applyMessages(this.queue, messages);
    if (state !== this.queue) this.queue = state;
    for (const job of failed) this.reportFailure(job);
  }

  /**
   * Sends a pause, resume, cancel or retry for one job, or keeps it until the connection
   * comes back; a refusal becomes a toast.
   */
  async act(action: JobAction, jobId: JobId): Promise<void> {
    const link = this.link;
    const name = findJob(this.queue, jobId)?.name ?? `job ${jobId}`;
    if (this.busy.has(jobId)) return;
    this.busy.add(jobId);
    try {
      if (!link) throw new CommandError('not_connected', 'Not connected to Ferry.');
      await link.send({ action, job_id: jobId });
    } catch (error) {
      this.showError('command', {
        title: `Could not ${VERBS[action]} “${name}”`,
        message: sentence(errorText(error)),
      });
    } finally {
      // What the engine said of the job up to its reply is shown as the buttons come back,
      // so they never offer, even for a frame, what the job allowed before the command.
      this.updates.flush();
      this.busy.delete(jobId);
    }
  }

  /** The job is in the queue and has failed. */
  isFailed(jobId: JobId): boolean {
    return findJob(this.queue, jobId)?.status === 'failed';
  }

  /** Retries those of the jobs that are still failed; the others were retried or removed since. */
  retryFailed(jobIds: readonly JobId[]): void {
    // A job retried from its row in the last few milliseconds must not be asked again.
    this.updates.flush();
    for (const jobId of jobIds) if (this.isFailed(jobId)) void this.act('retry', jobId);
  }

  addFiles(): Promise<void> {
    return this.add(pickFiles, 'files');
  }

  addFolders(): Promise<void> {
    return this.add(pickFolders, 'folders');
  }

  private async add(pick: () => Promise<string[]>, what: string): Promise<void> {
    if (this.adding) return;
    this.adding = true;
    try {
      let paths: string[];
      try {
        paths = await pick();
      } catch (error) {
        this.showError('add', { title: `Could not open the ${what} dialog`, message: sentence(errorText(error)) });
        return;
      }
      if (paths.length === 0) return;
      try {
        this.reportEnqueue(await enqueuePaths(paths));
      } catch (error) {
        this.showError('add', {
          title: `Could not add ${plural(paths.length, 'item', 'items')} to the queue`,
          message: sentence(errorText(error)),
        });
      }
    } finally {
      this.adding = false;
    }
  }

  private reportEnqueue(report: EnqueueReport): void {
    const added = report.jobs.length;
    if (report.skipped.length === 0) {
      if (added > 0) {
        this.toasts.show({ kind: 'success', title: `Added ${plural(added, 'file', 'files')} to the queue` });
      } else {
        this.toasts.show({ kind: 'info', title: 'Nothing to add', message: 'The selection holds no files.' });
      }
      return;
    }
    const skipped = report.skipped.length;
    const details = listed(report.skipped.map((entry) => `${baseName(entry.path)} — ${entry.reason}`));
    if (added === 0) {
      this.showError('add', {
        title: `Nothing added: ${plural(skipped, 'path was', 'paths were')} skipped`,
        message: 'Ferry did not queue these:',
        details,
      });
    } else {
      this.toasts.show({
        kind: 'warning',
        title: `Added ${plural(added, 'file', 'files')}; skipped ${skipped}`,
        message: 'Ferry did not queue these:',
        details,
      });
    }
  }

  /** Shows an error toast and keeps it in the notifications. */
  private showError(kind: NotificationKind, toast: Omit<ToastInput, 'kind'>): void {
    this.toasts.show({ ...toast, kind: 'error' });
    this.notifications.add({ kind, title: toast.title, message: toast.message, details: toast.details });
  }

  private reportFailure(job: JobView): void {
    if (!this.toasts.byKey('job-failed')) this.failures = [];
    const error = job.error ?? 'no reason was given';
    this.failures.push({ jobId: job.id, name: job.name, error });
    // One entry per job, even when the toast sums several up, so that each can be retried from the list.
    this.notifications.add({ kind: 'job-failed', title: `Upload failed: ${job.name}`, message: sentence(error), jobId: job.id });
    const jobIds = this.failures.map((failure) => failure.jobId);
    const count = this.failures.length;
    const first = this.failures[0];
    if (count === 1 && first) {
      this.toasts.show({
        kind: 'error',
        key: 'job-failed',
        title: `Upload failed: ${first.name}`,
        message: sentence(first.error),
        actions: [{ label: 'Retry', run: () => this.retryFailed(jobIds) }],
      });
    } else {
      this.toasts.show({
        kind: 'error',
        key: 'job-failed',
        title: `${count} uploads failed`,
        details: listed(this.failures.map((failure) => `${failure.name} — ${failure.error}`)),
        actions: [{ label: 'Retry all', run: () => this.retryFailed(jobIds) }],
      });
    }
  }

  private statusChanged(status: ConnectionStatus): void {
    // The first attempt failing is news; that attempt starting again, early or on time, is not.
    const firstFailure =
      status.state === 'reconnecting' && status.attempt === 1 && !(this.connection.state === 'reconnecting' && this.connection.attempt === 1);
    // The status is reported again while open whenever the count of waiting commands
    // changes; only coming back is news.
    const opened = status.state === 'open' && this.connection.state !== 'open';
    this.connection = status;
    if (opened) {
      if (this.toasts.byKey('connection')) {
        this.toasts.show({
          kind: 'success',
          key: 'connection',
          title: this.everOpen ? 'Connected to Ferry again' : 'Connected to Ferry',
        });
      }
      this.everOpen = true;
    } else if (firstFailure) {
      this.showError('connection', {
        key: 'connection',
        title: this.everOpen ? 'Lost the connection to Ferry' : 'Could not connect to Ferry',
        message: `${sentence(status.lastError ?? 'The connection failed')} Retrying automatically.`,
      });
    }
  }
}
