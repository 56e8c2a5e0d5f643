import type { JobId, JobProgress, JobView, QueueTotals, ServerMessage } from './generated/protocol';

/** What the UI knows about the queue: the server's state as of message `lastSeq` of `epoch`. */
export interface QueueState {
  /** The server run the state belongs to; `null` until the first welcome. */
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
});

function indexOf(jobs: readonly JobView[]): Map<JobId, number> {
  return new Map(jobs.map((job, position) => [job.id, position]));
}

/** True when a numbered update must be dropped because it is not newer than the state. */
function isStale(state: QueueState, seq: number): boolean {
  return state.epoch === null || seq <= state.lastSeq;
}

function withProgress(state: QueueState, seq: number, progress: JobProgress, totals: QueueTotals): QueueState {
  const position = state.index.get(progress.job_id);
  if (position === undefined) {
    // The job message that introduces this job is still on its way (or was dropped by a
    // resync); its figures will come with it.
    return { ...state, lastSeq: seq, totals };
  }
  const jobs = state.jobs.slice();
  const job = jobs[position] as JobView;
  jobs[position] = { ...job, progress };
  return { ...state, lastSeq: seq, jobs, totals };
}

function withJob(state: QueueState, seq: number, job: JobView, totals: QueueTotals): QueueState {
  const position = state.index.get(job.id);
  if (position === undefined) {
    const jobs = [...state.jobs, job];
    const index = new Map(state.index);
    index.set(job.id, jobs.length - 1);
    return { ...state, lastSeq: seq, jobs, index, totals };
  }
  const jobs = state.jobs.slice();
  jobs[position] = job;
  return { ...state, lastSeq: seq, jobs, totals };
}

/**
 * Applies one server message to the state and returns the new state; the old one is
 * left untouched, and the same object comes back when the message changes nothing.
 *
 * - `welcome` replaces everything, whenever it arrives (first contact or resync).
 * - `progress` replaces the figures of one job and the totals; `job` replaces (or adds)
 *   one whole job and the totals. Either is dropped when its `seq` is not newer than the
 *   last applied one, or before any welcome.
 * - `resume` keeps the state: the messages it announces follow, each applied once by `seq`.
 * - `reply`, `error` and `metrics` carry no state.
 */
export function applyMessage(state: QueueState, message: ServerMessage): QueueState {
  switch (message.type) {
    case 'welcome': {
      const jobs = message.snapshot.jobs.slice();
      return {
        epoch: message.epoch,
        lastSeq: message.seq,
        jobs,
        index: indexOf(jobs),
        totals: message.snapshot.totals,
        serverVersion: message.server_version,
      };
    }
    case 'progress':
      if (isStale(state, message.seq)) return state;
      return withProgress(state, message.seq, message.progress, message.totals);
    case 'job':
      if (isStale(state, message.seq)) return state;
      return withJob(state, message.seq, message.job, message.totals);
    case 'resume':
    case 'reply':
    case 'error':
    case 'metrics':
      return state;
  }
}

/** The job with this id, if the state holds it. */
export function findJob(state: QueueState, id: JobId): JobView | undefined {
  const position = state.index.get(id);
  return position === undefined ? undefined : state.jobs[position];
}

/**
 * The job a `job` message has just moved into `failed`, if it did: a failure worth telling
 * the user about, as opposed to one already known from an earlier message or a welcome.
 */
export function newlyFailed(before: QueueState, after: QueueState, message: ServerMessage): JobView | null {
  if (message.type !== 'job' || before === after || message.job.status !== 'failed') return null;
  const previous = findJob(before, message.job.id);
  return previous?.status === 'failed' ? null : message.job;
}
