import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatEta,
  formatSpeed,
  formatWhen,
  jobActions,
  overallPercent,
  overallText,
  stagePercent,
  sentPercent,
  stageText,
} from './format';
import { job, progress, totals } from './testing/fixtures';

describe('formatBytes', () => {
  it('shows whole bytes below 1 KB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1)).toBe('1 B');
    expect(formatBytes(999)).toBe('999 B');
  });

  it('shows KB, MB, GB and TB with one decimal', () => {
    expect(formatBytes(1000)).toBe('1.0 KB');
    expect(formatBytes(1_536)).toBe('1.5 KB');
    expect(formatBytes(1_200_000)).toBe('1.2 MB');
    expect(formatBytes(4_000_000_000)).toBe('4.0 GB');
    expect(formatBytes(1_250_000_000_000)).toBe('1.3 TB');
  });

  it('moves to the next unit instead of printing 1000.0', () => {
    expect(formatBytes(999_960)).toBe('1.0 MB');
    expect(formatBytes(999_940)).toBe('999.9 KB');
  });

  it('treats negative and non-finite values as nothing', () => {
    expect(formatBytes(-5)).toBe('0 B');
    expect(formatBytes(Number.NaN)).toBe('0 B');
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('0 B');
  });
});

describe('formatSpeed', () => {
  it('adds per second', () => {
    expect(formatSpeed(1_200_000)).toBe('1.2 MB/s');
    expect(formatSpeed(35_000_000)).toBe('35.0 MB/s');
    expect(formatSpeed(0)).toBe('0 B/s');
  });
});

describe('formatEta', () => {
  it('shows seconds under a minute', () => {
    expect(formatEta(12)).toBe('12 s left');
    expect(formatEta(11.2)).toBe('12 s left');
    expect(formatEta(0)).toBe('1 s left');
    expect(formatEta(59)).toBe('59 s left');
  });

  it('shows minutes under an hour', () => {
    expect(formatEta(60)).toBe('1 min left');
    expect(formatEta(120)).toBe('2 min left');
    expect(formatEta(150)).toBe('3 min left');
    expect(formatEta(59 * 60)).toBe('59 min left');
  });

  it('shows hours and days for long waits', () => {
    expect(formatEta(3600)).toBe('1 h left');
    expect(formatEta(3600 + 5 * 60)).toBe('1 h 5 min left');
    expect(formatEta(59 * 60 + 50)).toBe('1 h left');
    expect(formatEta(2 * 86400 + 3 * 3600)).toBe('2 d 3 h left');
  });

  it('is empty when the time is unknown', () => {
    expect(formatEta(null)).toBe('');
    expect(formatEta(undefined)).toBe('');
    expect(formatEta(-1)).toBe('');
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe('');
  });
});

describe('stageText', () => {
  it('names every status', () => {
    expect(stageText({ status: 'queued', error: null })).toBe('Queued');
    expect(stageText({ status: 'hashing', error: null })).toBe('Hashing');
    expect(stageText({ status: 'parsing', error: null })).toBe('Inspecting');
    expect(stageText({ status: 'uploading', error: null })).toBe('Uploading');
    expect(stageText({ status: 'verifying', error: null })).toBe('Verifying');
    expect(stageText({ status: 'done', error: null })).toBe('Done');
    expect(stageText({ status: 'paused', error: null })).toBe('Paused');
    expect(stageText({ status: 'cancelled', error: null })).toBe('Cancelled');
  });

  it('says why a job failed', () => {
    expect(stageText({ status: 'failed', error: 'The server is unreachable' })).toBe('Failed — The server is unreachable');
    expect(stageText({ status: 'failed', error: null })).toBe('Failed');
  });

  it('shows what a running job is going through, and nothing once it rests', () => {
    const note = 'Connection lost; retrying in 3 s (attempt 2)';
    expect(stageText({ status: 'uploading', error: null, note })).toBe(`Uploading — ${note}`);
    expect(stageText({ status: 'paused', error: null, note })).toBe('Paused');
  });
});

describe('sentPercent', () => {
  it('is the share sent but not acknowledged, only while uploading', () => {
    const sending = progress(1, { current: 100, total: 1000, sent: 450 });
    expect(sentPercent(job(1, { status: 'uploading', progress: sending }))).toBe(45);
    expect(sentPercent(job(1, { status: 'verifying', progress: sending }))).toBe(0);
    expect(sentPercent(job(1, { status: 'uploading', progress: progress(1, { current: 5, total: 10 }) }))).toBe(0);
  });
});

describe('stagePercent', () => {
  it('is the integer percent of the current stage', () => {
    expect(stagePercent(job(1, { status: 'uploading', progress: progress(1, { current: 333, total: 1000 }) }))).toBe(33);
    expect(stagePercent(job(1, { status: 'hashing', progress: progress(1, { current: 999, total: 1000 }) }))).toBe(99);
    expect(stagePercent(job(1, { status: 'queued', progress: progress(1, { current: 0, total: 0 }) }))).toBe(0);
  });

  it('is 100 once done, and stays within 0-100', () => {
    expect(stagePercent(job(1, { status: 'done', progress: progress(1, { current: 0, total: 0 }) }))).toBe(100);
    expect(stagePercent(job(1, { status: 'uploading', progress: progress(1, { current: 2000, total: 1000 }) }))).toBe(100);
    expect(stagePercent(job(1, { status: 'uploading', progress: progress(1, { current: -5, total: 1000 }) }))).toBe(0);
  });
});

describe('overall figures', () => {
  it('sums up the queue in one line', () => {
    const line = overallText(
      totals({ jobs: 10, done: 3, active: 2, queued: 5, bytes_done: 1_200_000_000, bytes_total: 4_000_000_000, speed: 35_000_000, eta_secs: 120 }),
    );
    expect(line).toBe('3 of 10 files · 1.2 GB of 4.0 GB · 35.0 MB/s · 2 min left');
  });

  it('leaves out speed when nothing moves, counts failures, and skips cancelled jobs', () => {
    const line = overallText(
      totals({ jobs: 4, done: 2, failed: 1, cancelled: 1, bytes_done: 2_000_000, bytes_total: 3_000_000, speed: 0 }),
    );
    expect(line).toBe('2 of 3 files · 2.0 MB of 3.0 MB · 1 failed');
    expect(overallText(totals({ jobs: 1, bytes_total: 10 }))).toBe('0 of 1 file · 0 B of 10 B');
  });

  it('says when the queue is empty', () => {
    expect(overallText(totals())).toBe('No files in the queue');
  });

  it('gives the byte percent of the queue', () => {
    expect(overallPercent(totals({ jobs: 2, bytes_done: 250, bytes_total: 1000 }))).toBe(25);
    expect(overallPercent(totals())).toBe(0);
    expect(overallPercent(totals({ jobs: 2, done: 2, bytes_total: 0 }))).toBe(100);
  });
});

describe('jobActions', () => {
  it('offers pause while queued or active, resume when paused', () => {
    for (const status of ['queued', 'hashing', 'parsing', 'uploading', 'verifying'] as const) {
      expect(jobActions(status)).toEqual({ pause: true, resume: false, cancel: true, retry: false });
    }
    expect(jobActions('paused')).toEqual({ pause: false, resume: true, cancel: true, retry: false });
  });

  it('offers retry after a failure or a cancel, and nothing once done', () => {
    expect(jobActions('failed')).toEqual({ pause: false, resume: false, cancel: false, retry: true });
    expect(jobActions('cancelled')).toEqual({ pause: false, resume: false, cancel: false, retry: true });
    expect(jobActions('done')).toEqual({ pause: false, resume: false, cancel: false, retry: false });
  });
});

describe('formatWhen', () => {
  const now = new Date(2025, 4, 14, 15, 30).getTime();
  const clock = (at: number) => new Date(at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

  it('says how long ago within the hour', () => {
    expect(formatWhen(now - 59_000, now)).toBe('Just now');
    expect(formatWhen(now + 5_000, now)).toBe('Just now');
    expect(formatWhen(now - 60_000, now)).toBe('1 min ago');
    expect(formatWhen(now - 59 * 60_000, now)).toBe('59 min ago');
  });

  it('gives the clock time after an hour, and the day once it is not today', () => {
    const earlierToday = new Date(2025, 4, 14, 9, 5).getTime();
    expect(formatWhen(earlierToday, now)).toBe(clock(earlierToday));
    const yesterday = new Date(2025, 4, 13, 23, 50).getTime();
    const day = new Date(yesterday).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
    expect(formatWhen(yesterday, now)).toBe(`${day}, ${clock(yesterday)}`);
  });
});
