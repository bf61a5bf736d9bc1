/** Options of {@link backoffDelay}. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 250. */
  initialMs?: number;
  /** Upper bound of any delay, in ms. Default 10000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay randomised away ("equal jitter"), 0..1. Default 0.5. */
  jitter?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 = first retry): exponential growth with a cap and
 * jitter, so a restarted server is not hit by every open dashboard in the same millisecond.
 * @param random a source of numbers in [0, 1); Math.random in the page, a fixed function in tests.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialMs = 250, maxMs = 10_000, factor = 2, jitter = 0.5 } = opts;
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `backoff options invalid: need 0 < initialMs (${initialMs}) <= maxMs (${maxMs}), factor (${factor}) >= 1, 0 <= jitter (${jitter}) <= 1`,
    );
  }
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}
