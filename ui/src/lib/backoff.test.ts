import { describe, expect, it } from 'vitest';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffCeiling, backoffDelay } from './backoff';

describe('backoffCeiling', () => {
  it('doubles from 500 ms per attempt', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffCeiling(attempt))).toEqual([500, 1000, 2000, 4000, 8000, 16000]);
  });

  it('is capped at 20 s, however many attempts', () => {
    expect(backoffCeiling(7)).toBe(BACKOFF_CAP_MS);
    expect(backoffCeiling(50)).toBe(BACKOFF_CAP_MS);
    expect(backoffCeiling(5000)).toBe(BACKOFF_CAP_MS);
  });

  it('treats attempts below 1 as the first', () => {
    expect(backoffCeiling(0)).toBe(BACKOFF_BASE_MS);
    expect(backoffCeiling(-3)).toBe(BACKOFF_BASE_MS);
  });
});

describe('backoffDelay', () => {
  it('spans the whole range from 0 to the ceiling (full jitter)', () => {
    expect(backoffDelay(3, () => 0)).toBe(0);
    expect(backoffDelay(3, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, () => 0.999999)).toBe(1999);
    expect(backoffDelay(1, () => 0.25)).toBe(125);
  });

  it('stays within [0, ceiling] for every draw and attempt', () => {
    let seed = 12345;
    const random = () => {
      // A small deterministic generator (LCG) so the test is repeatable.
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let attempt = 1; attempt <= 40; attempt += 1) {
      for (let draw = 0; draw < 50; draw += 1) {
        const delay = backoffDelay(attempt, random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(backoffCeiling(attempt));
        expect(delay).toBeLessThanOrEqual(BACKOFF_CAP_MS);
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it('never leaves the range for a misbehaving random source', () => {
    expect(backoffDelay(2, () => 1)).toBe(1000);
    expect(backoffDelay(2, () => 7)).toBe(1000);
    expect(backoffDelay(2, () => -1)).toBe(0);
    expect(backoffDelay(2, () => Number.NaN)).toBe(0);
  });

  it('honours a custom base and cap', () => {
    expect(backoffDelay(4, () => 0.5, 100, 300)).toBe(150);
    expect(backoffDelay(2, () => 0.5, 100, 300)).toBe(100);
  });
});
