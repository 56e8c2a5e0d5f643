/** First reconnection delay ceiling, in milliseconds. */
export const BACKOFF_BASE_MS = 500;
/** Largest reconnection delay, in milliseconds. */
export const BACKOFF_CAP_MS = 20_000;

/**
 * The most a reconnection may wait before attempt `attempt` (1 for the first retry):
 * `base * 2^(attempt - 1)`, capped.
 */
export function backoffCeiling(attempt: number, base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // 2^exponent overflows to Infinity for huge attempt counts, which the cap absorbs.
  return Math.min(cap, base * 2 ** exponent);
}

/**
 * How long to wait before attempt `attempt`, with full jitter: a uniformly random delay
 * between 0 and the ceiling, so that many clients losing the same server do not all
 * come back at the same instant. `random` returns a number in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
  base = BACKOFF_BASE_MS,
  cap = BACKOFF_CAP_MS,
): number {
  const ceiling = backoffCeiling(attempt, base, cap);
  const draw = random();
  const unit = Number.isFinite(draw) ? Math.min(Math.max(draw, 0), 1) : 0;
  return Math.min(ceiling, Math.floor(unit * ceiling));
}
