/**
 * Asks for `run` to be called once, at the next frame, and returns a function that
 * withdraws the request. Given to `FrameBatch` so that tests can decide when a frame comes.
 */
export type FrameScheduler = (run: () => void) => () => void;

/**
 * How long a batch waits for a frame that does not come. A hidden or minimised window
 * gets no animation frames, and the queue must still keep up (its figures feed the
 * totals, failure toasts and notifications), at about the rate the engine sends.
 */
export const FALLBACK_MS = 50;

/**
 * The scheduler used in the window: the next animation frame, or `FALLBACK_MS`
 * later if that comes first; whichever fires cancels the other.
 */
export const nextFrame: FrameScheduler = (run) => {
  let done = false;
  let frame: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const cancel = () => {
    done = true;
    if (frame !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(frame);
    if (timer !== null) clearTimeout(timer);
    frame = null;
    timer = null;
  };
  const fire = () => {
    if (done) return;
    cancel();
    run();
  };
  if (typeof requestAnimationFrame === 'function') frame = requestAnimationFrame(fire);
  timer = setTimeout(fire, FALLBACK_MS);
  return cancel;
};

/**
 * Items gathered and handed over together, in the order they were pushed, once per
 * frame: the screen cannot show more than one state a frame, so working out and
 * drawing every state in between is wasted.
 */
export class FrameBatch<T> {
  private items: T[] = [];
  private cancelFrame: (() => void) | null = null;

  /**
   * @param apply Takes each batch; never called with an empty one.
   * @param schedule When batches are handed over; `nextFrame` unless given.
   */
  constructor(
    private readonly apply: (items: readonly T[]) => void,
    private readonly schedule: FrameScheduler = nextFrame,
  ) {}

  /** Items waiting for the next frame. */
  get size(): number {
    return this.items.length;
  }

  /** Adds an item to the batch of the next frame, asking for that frame if need be. */
  push(item: T): void {
    this.items.push(item);
    this.cancelFrame ??= this.schedule(() => {
      this.cancelFrame = null;
      this.flush();
    });
  }

  /**
   * Hands over what is waiting now instead of at the next frame, for a reader that
   * must see everything received so far.
   */
  flush(): void {
    this.withdraw();
    if (this.items.length === 0) return;
    // Taken before applying, so that an item pushed by `apply` goes to the next batch
    // and a throwing `apply` does not get the same items again.
    const items = this.items;
    this.items = [];
    this.apply(items);
  }

  /** Drops what is waiting and the frame asked for. */
  clear(): void {
    this.withdraw();
    this.items = [];
  }

  private withdraw(): void {
    const cancel = this.cancelFrame;
    this.cancelFrame = null;
    cancel?.();
  }
}
