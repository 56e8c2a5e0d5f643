import { afterEach, describe, expect, it, vi } from 'vitest';
import { FALLBACK_MS, FrameBatch, nextFrame } from './frame-batch';
import { ManualFrames } from './testing/frames';

describe('FrameBatch', () => {
  it('hands over everything pushed before a frame in one batch, in order, asking for one frame', () => {
    const frames = new ManualFrames();
    const batches: number[][] = [];
    const batch = new FrameBatch<number>((items) => batches.push([...items]), frames.schedule);
    for (let n = 1; n <= 5; n += 1) batch.push(n);
    expect(batches).toEqual([]);
    expect(frames.asked).toBe(1);

    expect(frames.next()).toBe(1);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);

    batch.push(6);
    frames.next();
    expect(batches).toEqual([[1, 2, 3, 4, 5], [6]]);
    // A frame with nothing waiting is never asked for.
    expect(frames.next()).toBe(0);
    expect(frames.asked).toBe(2);
  });

  it('hands over at once when flushed, and withdraws the frame it asked for', () => {
    const frames = new ManualFrames();
    const batches: string[][] = [];
    const batch = new FrameBatch<string>((items) => batches.push([...items]), frames.schedule);
    batch.push('a');
    batch.push('b');
    batch.flush();
    expect(batches).toEqual([['a', 'b']]);
    expect(frames.pending).toBe(0);
    expect(frames.withdrawn).toBe(1);
    batch.flush();
    expect(batches).toHaveLength(1);
  });

  it('drops what is waiting when cleared', () => {
    const frames = new ManualFrames();
    const apply = vi.fn();
    const batch = new FrameBatch<number>(apply, frames.schedule);
    batch.push(1);
    batch.clear();
    expect(batch.size).toBe(0);
    expect(frames.pending).toBe(0);
    frames.next();
    batch.flush();
    expect(apply).not.toHaveBeenCalled();
  });

  it('sends an item pushed while a batch is applied to the next frame', () => {
    const frames = new ManualFrames();
    const batches: number[][] = [];
    const batch: FrameBatch<number> = new FrameBatch<number>((items) => {
      batches.push([...items]);
      if (items.includes(1)) batch.push(2);
    }, frames.schedule);
    batch.push(1);
    frames.next();
    expect(batches).toEqual([[1]]);
    frames.next();
    expect(batches).toEqual([[1], [2]]);
  });
});

describe('nextFrame', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  /** Animation frames that never come, as in a hidden window; returns the callbacks asked for. */
  function framesThatNeverCome(): { asked: FrameRequestCallback[]; cancelled: number[] } {
    const asked: FrameRequestCallback[] = [];
    const cancelled: number[] = [];
    vi.stubGlobal('requestAnimationFrame', (callback: FrameRequestCallback) => asked.push(callback));
    vi.stubGlobal('cancelAnimationFrame', (handle: number) => cancelled.push(handle));
    return { asked, cancelled };
  }

  it('runs after FALLBACK_MS when no animation frame comes', () => {
    vi.useFakeTimers();
    const frames = framesThatNeverCome();
    const run = vi.fn();
    nextFrame(run);
    expect(frames.asked).toHaveLength(1);
    vi.advanceTimersByTime(FALLBACK_MS - 1);
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(run).toHaveBeenCalledOnce();
    // The frame asked for is withdrawn, and should it come anyway, it does nothing.
    expect(frames.cancelled).toEqual([1]);
    frames.asked[0]?.(0);
    expect(run).toHaveBeenCalledOnce();
  });

  it('runs at the animation frame when it comes first, and not again at the fallback', () => {
    vi.useFakeTimers();
    const frames = framesThatNeverCome();
    const run = vi.fn();
    nextFrame(run);
    frames.asked[0]?.(16);
    expect(run).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(FALLBACK_MS * 2);
    expect(run).toHaveBeenCalledOnce();
  });

  it('runs nothing once withdrawn', () => {
    vi.useFakeTimers();
    const frames = framesThatNeverCome();
    const run = vi.fn();
    const cancel = nextFrame(run);
    cancel();
    expect(frames.cancelled).toEqual([1]);
    frames.asked[0]?.(16);
    vi.advanceTimersByTime(FALLBACK_MS * 2);
    expect(run).not.toHaveBeenCalled();
  });

  it('falls back on the timer alone where there are no animation frames', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.stubGlobal('requestAnimationFrame', undefined);
    const run = vi.fn();
    nextFrame(run);
    vi.advanceTimersByTime(FALLBACK_MS);
    expect(run).toHaveBeenCalledOnce();
  });
});
