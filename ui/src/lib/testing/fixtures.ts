import type { JobChange, JobProgress, JobStatus, JobView, Limits, QueueTotals, ServerMessage } from '../generated/protocol';
import { emptyTotals } from '../store';

export function progress(jobId: number, overrides: Partial<JobProgress> = {}): JobProgress {
  return { job_id: jobId, status: 'queued', current: 0, total: 0, speed: 0, eta_secs: null, ...overrides };
}

export function job(id: number, overrides: Partial<JobView> = {}): JobView {
  const status: JobStatus = overrides.status ?? 'queued';
  return {
    id,
    path: `/home/user/files/file-${id}.bin`,
    name: `file-${id}.bin`,
    size: 1_000_000,
    status,
    progress: progress(id, { status }),
    mime: null,
    hash: null,
    remote: null,
    error: null,
    created_at_ms: 1_700_000_000_000 + id,
    ...overrides,
  };
}

/** What a `change` carries: the status and its figures, plus whatever `overrides` adds. */
export function change(id: number, overrides: Partial<JobChange> = {}): JobChange {
  const status: JobStatus = overrides.status ?? 'queued';
  return { id, status, progress: progress(id, { status }), ...overrides };
}

export function totals(overrides: Partial<QueueTotals> = {}): QueueTotals {
  return { ...emptyTotals, ...overrides };
}

export const limits: Limits = {
  max_message_bytes: 65536,
  max_messages_per_sec: 50,
  message_burst: 100,
  progress_per_sec: 20,
  updates_per_sec: 10,
  ack_timeout_ms: 10000,
  ping_interval_ms: 15000,
  max_invalid_in_a_row: 5,
};

export function welcome(seq: number, epoch: string, jobs: JobView[], queueTotals: QueueTotals = totals()): ServerMessage {
  return {
    type: 'welcome',
    seq,
    epoch,
    protocol: 'ferry.v1',
    server_version: '0.1.0',
    snapshot: { jobs, totals: queueTotals },
    limits,
  };
}

/** A `progress` batch: one figure, or the figures of several jobs. */
export function progressMessage(seq: number, figures: JobProgress | JobProgress[], queueTotals: QueueTotals = totals()): ServerMessage {
  return { type: 'progress', seq, progress: Array.isArray(figures) ? figures : [figures], totals: queueTotals };
}

export function jobMessage(seq: number, view: JobView): ServerMessage {
  return { type: 'job', seq, job: view };
}

export function changeMessage(seq: number, jobChange: JobChange): ServerMessage {
  return { type: 'change', seq, job: jobChange };
}

export function totalsMessage(seq: number, queueTotals: QueueTotals): ServerMessage {
  return { type: 'totals', seq, totals: queueTotals };
}
