/** Exponential backoff with full jitter on the upper half: base * 2^attempt, capped. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** random source, for tests */
  random?: () => number;
}

export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exp = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt));
  // half fixed, half random: never zero, never above the cap
  return Math.round(exp / 2 + random() * (exp / 2));
}
