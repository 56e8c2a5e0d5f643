import type { JobId } from './generated/protocol';

/** What went wrong, as far as the list of notifications tells problems apart. */
export type NotificationKind =
  /** An upload failed. */
  | 'job-failed'
  /** The window lost, or never had, its connection to the engine. */
  | 'connection'
  /** The engine refused or never answered a pause, resume, cancel or retry. */
  | 'command'
  /** The engine reported a problem or sent something unreadable. */
  | 'engine'
  /** Files or folders could not be added to the queue. */
  | 'add'
  /** Ferry started with a setting it could not use. */
  | 'startup';

export interface NotificationEntry {
  /** Unique within the list; a string, as the list dialogs key their rows. */
  readonly id: string;
  readonly kind: NotificationKind;
  readonly title: string;
  readonly message: string;
  /** Extra lines, such as the paths a command skipped. */
  readonly details: readonly string[];
  /** When it was raised, in milliseconds since the epoch. */
  readonly at: number;
  /** The job that failed, for a job failure; null otherwise. */
  readonly jobId: JobId | null;
}

export interface NotificationInput {
  kind: NotificationKind;
  title: string;
  message?: string;
  details?: readonly string[];
  jobId?: JobId;
}

/** Most notifications kept; the oldest go first. */
export const MAX_NOTIFICATIONS = 100;

/**
 * The problems raised since the window opened, most recent first, so that one whose toast
 * was dismissed, or scrolled away under others, can still be read.
 */
export class Notifications {
  entries = $state.raw<readonly NotificationEntry[]>([]);
  /** How many entries were added since the list was last seen. */
  unread = $state(0);
  private nextId = 0;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  add(input: NotificationInput): NotificationEntry {
    this.nextId += 1;
    const entry: NotificationEntry = {
      id: String(this.nextId),
      kind: input.kind,
      title: input.title,
      message: input.message ?? '',
      details: input.details ?? [],
      at: this.now(),
      jobId: input.jobId ?? null,
    };
    this.entries = [entry, ...this.entries].slice(0, MAX_NOTIFICATIONS);
    this.unread = Math.min(this.unread + 1, this.entries.length);
    return entry;
  }

  markSeen(): void {
    this.unread = 0;
  }

  clear(): void {
    this.entries = [];
    this.unread = 0;
  }
}
