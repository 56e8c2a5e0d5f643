import type { FrameScheduler } from '../frame-batch';

/** Frames that come only when a test says, so that what a frame applies can be checked exactly. */
export class ManualFrames {
  private waiting = new Set<() => void>();
  /** Frames asked for since the start, withdrawn ones included. */
  asked = 0;
  /** Frames asked for and then withdrawn. */
  withdrawn = 0;

  readonly schedule: FrameScheduler = (run) => {
    const entry = () => run();
    this.asked += 1;
    this.waiting.add(entry);
    return () => {
      if (this.waiting.delete(entry)) this.withdrawn += 1;
    };
  };

  /** Frames asked for and neither run nor withdrawn. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Runs what was asked for before this frame; returns how many callbacks ran. */
  next(): number {
    const due = [...this.waiting];
    this.waiting.clear();
    for (const run of due) run();
    return due.length;
  }
}
