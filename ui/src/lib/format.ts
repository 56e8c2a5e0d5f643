import type { JobStatus, JobView, QueueTotals } from './generated/protocol';

const UNITS = ['KB', 'MB', 'GB', 'TB', 'PB'] as const;

/**
 * A byte count for people: whole bytes below 1 KB, otherwise KB, MB, GB, ... (powers of
 * 1000, as file managers show them) with one decimal.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  if (Math.round(bytes) < 1000) return `${Math.round(bytes)} B`;
  let value = bytes / 1000;
  let unit = 0;
  // Move up while the value would print as 1000.0 or more in the current unit.
  while (unit < UNITS.length - 1 && Number(value.toFixed(1)) >= 1000) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** A throughput in bytes per second: "1.2 MB/s". */
export function formatSpeed(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/**
 * Time left, coarse enough to read at a glance: "12 s left", "2 min left",
 * "1 h 5 min left", "2 d 3 h left". Empty when unknown.
 */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '';
  const whole = Math.max(1, Math.ceil(seconds));
  if (whole < 60) return `${whole} s left`;
  const minutes = Math.round(whole / 60);
  if (minutes < 60) return `${minutes} min left`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    const rest = minutes % 60;
    return rest === 0 ? `${hours} h left` : `${hours} h ${rest} min left`;
  }
  const days = Math.floor(hours / 24);
  const restHours = hours % 24;
  return restHours === 0 ? `${days} d left` : `${days} d ${restHours} h left`;
}

const STAGE_NAMES: Record<JobStatus, string> = {
  queued: 'Queued',
  hashing: 'Hashing',
  parsing: 'Inspecting',
  uploading: 'Uploading',
  verifying: 'Verifying',
  done: 'Done',
  failed: 'Failed',
  paused: 'Paused',
  cancelled: 'Cancelled',
};

/** The words shown for where a job stands; a failure says why, and a running job says what it is going through (a retry, a restart). */
export function stageText(job: Pick<JobView, 'status' | 'error' | 'note'>): string {
  const name = STAGE_NAMES[job.status];
  if (job.status === 'failed' && job.error) return `${name} — ${job.error}`;
  if (isActive(job.status) && job.note) return `${name} — ${job.note}`;
  return name;
}

/** Integer percent (0-100) of the stage's bytes sent but not yet acknowledged by the server. */
export function sentPercent(job: Pick<JobView, 'status' | 'progress'>): number {
  const { sent, total } = job.progress;
  if (job.status !== 'uploading' || sent === undefined || !(total > 0)) return 0;
  return Math.min(100, Math.max(0, Math.floor((sent / total) * 100)));
}

/** True while a worker is running the job. */
export function isActive(status: JobStatus): boolean {
  return status === 'hashing' || status === 'parsing' || status === 'uploading' || status === 'verifying';
}

/** True for the states a job never leaves by itself. */
export function isTerminal(status: JobStatus): boolean {
  return status === 'done' || status === 'failed' || status === 'cancelled';
}

/** Integer percent (0-100) of the job's current stage; 100 once the job is done. */
export function stagePercent(job: Pick<JobView, 'status' | 'progress'>): number {
  if (job.status === 'done') return 100;
  const { current, total } = job.progress;
  if (!(total > 0) || !(current > 0)) return 0;
  return Math.min(100, Math.max(0, Math.floor((current / total) * 100)));
}

/** Integer percent (0-100) of the queue's bytes uploaded. */
export function overallPercent(totals: QueueTotals): number {
  if (!(totals.bytes_total > 0)) return totals.jobs > 0 && totals.done === totals.jobs ? 100 : 0;
  return Math.min(100, Math.max(0, Math.floor((totals.bytes_done / totals.bytes_total) * 100)));
}

/** "1 file", "3 files". */
export function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * The header's summary of the queue: "3 of 10 files · 1.2 GB of 4.0 GB · 35.0 MB/s · 2 min left".
 * Cancelled jobs are left out of both counts, as they are of the byte total. Speed and time
 * left appear only while something is moving; failures are counted at the end.
 */
export function overallText(totals: QueueTotals): string {
  const counted = Math.max(0, totals.jobs - totals.cancelled);
  if (totals.jobs === 0) return 'No files in the queue';
  const parts = [
    `${totals.done} of ${plural(counted, 'file', 'files')}`,
    `${formatBytes(totals.bytes_done)} of ${formatBytes(totals.bytes_total)}`,
  ];
  if (totals.active > 0 && totals.speed > 0) {
    parts.push(formatSpeed(totals.speed));
    const eta = formatEta(totals.eta_secs);
    if (eta) parts.push(eta);
  }
  if (totals.failed > 0) parts.push(`${totals.failed} failed`);
  return parts.join(' · ');
}

/** The actions a job offers in its current state. */
export interface JobActions {
  pause: boolean;
  resume: boolean;
  cancel: boolean;
  retry: boolean;
}

export function jobActions(status: JobStatus): JobActions {
  return {
    pause: status === 'queued' || isActive(status),
    resume: status === 'paused',
    cancel: !isTerminal(status),
    retry: status === 'failed' || status === 'cancelled',
  };
}

/**
 * When something happened, read at a glance: "Just now", "5 min ago" within the hour, then
 * the clock time, with the day once it is not today.
 */
export function formatWhen(at: number, now: number): string {
  const minutes = Math.floor((now - at) / 60_000);
  if (minutes < 1) return 'Just now';
  if (minutes < 60) return `${minutes} min ago`;
  const when = new Date(at);
  const time = when.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (when.toDateString() === new Date(now).toDateString()) return time;
  return `${when.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, ${time}`;
}
