import type { ResumePoint } from './connection';
import type { JobChange, JobId, JobProgress, JobStatus, JobView, QueueTotals, ServerMessage, Snapshot } from './generated/protocol';

/**
 * What the UI knows about the queue: the server's state as of message `lastSeq` of
 * `epoch`, or as of the last poll when `polled`.
 */
export interface QueueState {
  /** The server run the state belongs to; `null` until the first welcome, and while the
   * state comes from polling, which has no place in a run's sequence. */
  readonly epoch: string | null;
  /** Sequence number of the last message applied. */
  readonly lastSeq: number;
  /** Every job, oldest first. */
  readonly jobs: readonly JobView[];
  /** Position of each job in `jobs`. */
  readonly index: ReadonlyMap<JobId, number>;
  /** Figures for the whole queue. */
  readonly totals: QueueTotals;
  /** The version of the application serving the state, from the welcome. */
  readonly serverVersion: string | null;
  /** The state was read by polling, not sent over a socket, so numbered updates wait for a welcome. */
  readonly polled: boolean;
}

export const emptyTotals: QueueTotals = Object.freeze({
  jobs: 0,
  done: 0,
  failed: 0,
  active: 0,
  queued: 0,
  paused: 0,
  cancelled: 0,
  bytes_total: 0,
  bytes_done: 0,
  speed: 0,
  eta_secs: null,
});

export const initialState: QueueState = Object.freeze({
  epoch: null,
  lastSeq: 0,
  jobs: Object.freeze([]) as readonly JobView[],
  index: new Map<JobId, number>(),
  totals: emptyTotals,
  serverVersion: null,
  polled: false,
});

function indexOf(jobs: readonly JobView[]): Map<JobId, number> {
  return new Map(jobs.map((job, position) => [job.id, position]));
}

/** True when a numbered update must be dropped because it is not newer than the state. */
function isStale(state: Pick<QueueState, 'epoch' | 'lastSeq'>, seq: number): boolean {
  return state.epoch === null || seq <= state.lastSeq;
}

/**
 * Where a status falls in a run; the resting states come last, since a run's figures
 * never follow them (a retry or resume starts again from `queued` with a job message).
 */
const stageRank: Readonly<Record<JobStatus, number>> = {
  queued: 0,
  hashing: 1,
  parsing: 2,
  uploading: 3,
  verifying: 4,
  done: 5,
  failed: 5,
  paused: 5,
  cancelled: 5,
};

/**
 * A state being worked on by a run of messages: the jobs and their index are copied the
 * first time one of them changes, and then changed in place, so that a frame's hundreds of
 * updates cost one copy of the queue instead of one each. Job objects are never changed in
 * place: the state the run started from still holds them.
 */
class Draft {
  epoch: string | null;
  lastSeq: number;
  totals: QueueTotals;
  serverVersion: string | null;
  polled: boolean;
  jobs: readonly JobView[];
  index: ReadonlyMap<JobId, number>;
  /** Something differs from the state the run started from. */
  changed = false;
  private ownJobs = false;
  private ownIndex = false;

  constructor(private readonly original: QueueState) {
    this.epoch = original.epoch;
    this.lastSeq = original.lastSeq;
    this.totals = original.totals;
    this.serverVersion = original.serverVersion;
    this.polled = original.polled;
    this.jobs = original.jobs;
    this.index = original.index;
  }

  job(id: JobId): JobView | undefined {
    return findJob(this, id);
  }

  setJob(position: number, job: JobView): void {
    this.writableJobs()[position] = job;
  }

  addJob(job: JobView): void {
    const jobs = this.writableJobs();
    jobs.push(job);
    if (!this.ownIndex) {
      this.index = new Map(this.index);
      this.ownIndex = true;
    }
    (this.index as Map<JobId, number>).set(job.id, jobs.length - 1);
  }

  /** Takes the whole of `state`, which, like the state the run started from, is copied before any change. */
  replace(state: QueueState): void {
    Object.assign(this, state);
    this.ownJobs = false;
    this.ownIndex = false;
    this.changed = true;
  }

  result(): QueueState {
    if (!this.changed) return this.original;
    return {
      epoch: this.epoch,
      lastSeq: this.lastSeq,
      jobs: this.jobs,
      index: this.index,
      totals: this.totals,
      serverVersion: this.serverVersion,
      polled: this.polled,
    };
  }

  private writableJobs(): JobView[] {
    if (!this.ownJobs) {
      this.jobs = this.jobs.slice();
      this.ownJobs = true;
    }
    return this.jobs as JobView[];
  }
}

/**
 * Applies a batch: each job's figures replace its previous ones (latest wins), except a
 * figure older than the job's stage, which would take the job back to a stage it left.
 * The server never sends one; the check keeps the bars honest whatever happens.
 */
function withProgress(draft: Draft, figures: readonly JobProgress[], totals: QueueTotals): void {
  for (const figure of figures) {
    // A job not known yet is on its way in a job message (or was dropped by a resync);
    // its figures will come with it.
    const position = draft.index.get(figure.job_id);
    if (position === undefined) continue;
    const job = draft.jobs[position] as JobView;
    if (stageRank[figure.status] < stageRank[job.status]) continue;
    draft.setJob(position, { ...job, progress: figure });
  }
  draft.totals = totals;
}

function withJob(draft: Draft, job: JobView): void {
  const position = draft.index.get(job.id);
  if (position === undefined) draft.addJob(job);
  else draft.setJob(position, job);
}

/**
 * Merges a change into the job it names. Status and figures always come with it; any
 * other field it leaves out is unchanged, since the server sends a cleared field as a
 * whole `job` message instead.
 */
function withChange(draft: Draft, change: JobChange): void {
  const position = draft.index.get(change.id);
  // The server only changes a job the client holds; should one come for a job not held,
  // there is nothing to merge it into, but its seq still counts as applied.
  if (position === undefined) return;
  const job: JobView = { ...(draft.jobs[position] as JobView), status: change.status, progress: change.progress };
  if (change.mime !== undefined) job.mime = change.mime;
  if (change.hash !== undefined) job.hash = change.hash;
  if (change.remote !== undefined) job.remote = change.remote;
  if (change.error !== undefined) job.error = change.error;
  if (change.note !== undefined) job.note = change.note;
  draft.setJob(position, job);
}

function fromSnapshot(snapshot: Snapshot, epoch: string | null, lastSeq: number, serverVersion: string | null, polled: boolean): QueueState {
  const jobs = snapshot.jobs.slice();
  return { epoch, lastSeq, jobs, index: indexOf(jobs), totals: snapshot.totals, serverVersion, polled };
}

/**
 * Replaces the state with a polled snapshot, as a welcome would. A poll carries no epoch
 * or seq, so the state gets none: numbered updates are dropped until the next welcome,
 * and `resumePoint` names nothing, so the next socket asks for a whole welcome.
 */
export function applyPolledSnapshot(state: QueueState, snapshot: Snapshot): QueueState {
  return fromSnapshot(snapshot, null, 0, state.serverVersion, true);
}

/** The point the next socket can resume from, or null when only a whole welcome will do. */
export function resumePoint(state: QueueState): ResumePoint | null {
  if (state.epoch === null || state.polled) return null;
  return { epoch: state.epoch, lastSeq: state.lastSeq };
}

/** The queue is known, from a welcome or a poll. */
export function isLoaded(state: QueueState): boolean {
  return state.epoch !== null || state.polled;
}

/**
 * Applies one server message to the state and returns the new state; the old one is
 * left untouched, and the same object comes back when the message changes nothing.
 *
 * - `welcome` replaces everything, whenever it arrives (first contact, resync, or the
 *   first socket after polling).
 * - `progress` carries the latest figures of one or more jobs (each job's at most
 *   `progress_per_sec` times a second; several messages the client was behind on may come
 *   merged into one, with the last one's `seq`): each replaces its job's figures, unless it
 *   is older than the job's stage; the totals are replaced too.
 * - `job` replaces (or adds) one whole job: it is sent when a job is created, or changed
 *   in a way a `change` cannot say (a field cleared).
 * - `change` sets the status and figures of a job the state holds, and the other fields
 *   it carries; the fields it leaves out keep their values. A change for a job the state
 *   does not hold changes no job. The `ended` of a `job` or `change` (the 100 % of the
 *   stage it ended) is already behind the job's new stage, so nothing here shows it.
 * - `totals` replaces the queue's figures.
 * - Each of `progress`, `job`, `change` and `totals` is dropped when its `seq` is not
 *   newer than the last applied one, or before any welcome.
 * - `resume` keeps the state: the messages it announces follow, each applied once by `seq`.
 * - `reply`, `error` and `metrics` carry no state.
 */
export function applyMessage(state: QueueState, message: ServerMessage): QueueState {
  const draft = new Draft(state);
  applyTo(draft, message);
  return draft.result();
}

/**
 * Applies messages in order, leaving the state `applyMessage` would leave applied to each
 * in turn, but copying the queue at most once: a busy frame brings hundreds of updates.
 * `failed` names, in order, the jobs a `job` or `change` message has just moved into
 * `failed`, as they are after it: failures worth telling the user about, as opposed to
 * ones already known from an earlier message or a welcome.
 */
export function applyMessages(state: QueueState, messages: readonly ServerMessage[]): { state: QueueState; failed: JobView[] } {
  const draft = new Draft(state);
  const failed: JobView[] = [];
  for (const message of messages) {
    const wasFailed = (message.type === 'job' || message.type === 'change') && draft.job(message.job.id)?.status === 'failed';
    if (!applyTo(draft, message)) continue;
    if ((message.type === 'job' || message.type === 'change') && message.job.status === 'failed' && !wasFailed) {
      const job = draft.job(message.job.id);
      if (job) failed.push(job);
    }
  }
  return { state: draft.result(), failed };
}

/** Applies one message to `draft`; false when it changes nothing. */
function applyTo(draft: Draft, message: ServerMessage): boolean {
  switch (message.type) {
    case 'welcome':
      draft.replace(fromSnapshot(message.snapshot, message.epoch, message.seq, message.server_version, false));
      return true;
    case 'progress':
      if (isStale(draft, message.seq)) return false;
      withProgress(draft, message.progress, message.totals);
      break;
    case 'job':
      if (isStale(draft, message.seq)) return false;
      withJob(draft, message.job);
      break;
    case 'change':
      if (isStale(draft, message.seq)) return false;
      withChange(draft, message.job);
      break;
    case 'totals':
      if (isStale(draft, message.seq)) return false;
      draft.totals = message.totals;
      break;
    case 'resume':
    case 'reply':
    case 'error':
    case 'metrics':
      return false;
  }
  draft.lastSeq = message.seq;
  draft.changed = true;
  return true;
}

/** The job with this id, if the state holds it. */
export function findJob(state: Pick<QueueState, 'jobs' | 'index'>, id: JobId): JobView | undefined {
  const position = state.index.get(id);
  return position === undefined ? undefined : state.jobs[position];
}
