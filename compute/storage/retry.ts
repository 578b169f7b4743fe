/**
 * Retry policy for storage requests: exponential backoff with full jitter, bounded attempts.
 * Full jitter (a uniformly random delay in [0, min(cap, base * 2^n)]) spreads retries of many
 * clients hitting the same failing endpoint, which plain exponential backoff synchronizes.
 * See https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/
 */

export interface RetryPolicy {
  /** Total attempts including the first. Default 5. */
  attempts: number;
  /** Delay ceiling of the first retry in ms. Default 100. */
  baseDelayMs: number;
  /** Upper bound of any single delay in ms. Default 5000. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 5_000 };

/**
 * The delay before retry number `retry` (0 for the first retry): uniform in
 * [0, min(maxDelayMs, baseDelayMs * 2^retry)].
 */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/**
 * Whether an HTTP status is worth retrying: server errors and throttling. Every other 4xx means
 * the request itself is wrong (or a precondition failed) and would fail the same way again.
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

/**
 * A `Retry-After` header in seconds (the HTTP-date form is ignored), as ms; undefined if absent.
 * See RFC 9110 §10.2.3.
 */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}
