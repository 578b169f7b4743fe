/**
 * The one retry helper: bounded attempts with exponential backoff and full jitter. Full jitter (a
 * uniformly random delay in [0, min(cap, base * 2^n)]) spreads the retries of many clients hitting
 * the same failing endpoint, which plain exponential backoff synchronizes.
 * https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/
 *
 * Storage requests, compare-and-swap loops, reports to the edge and alert deliveries all retry
 * through `withRetry`; each says which failures are worth another attempt. Web-standard only.
 */

export interface RetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  /** Delay ceiling of the first retry in ms. */
  baseDelayMs: number;
  /** Upper bound of any single delay in ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 5_000 };

export interface RetryOptions extends Partial<RetryPolicy> {
  /** Whether a failure is worth another attempt. Default: every failure is. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** A delay the failure itself asks for (e.g. Retry-After), used when longer than the backoff. */
  delayFor?: (error: unknown) => number | undefined;
  /** Called before each retry (for logs). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops retrying (the last error is thrown). */
  signal?: AbortSignal;
  /** Default Math.random (tests pass a fixed one). */
  random?: () => number;
  /** Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The delay before retry number `retry` (0 for the first retry): uniform in
 * [0, min(maxDelayMs, baseDelayMs * 2^retry)].
 */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `operation` until it succeeds, a failure is not worth retrying, or the attempts run out.
 * @param operation gets the attempt number, from 1
 * @throws the last failure
 */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy: RetryPolicy = {
    attempts: options.attempts ?? DEFAULT_RETRY_POLICY.attempts,
    baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
  };
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const last = attempt >= policy.attempts || options.signal?.aborted === true;
      if (last || !(options.shouldRetry?.(error, attempt) ?? true)) throw error;
      const asked = options.delayFor?.(error);
      const delayMs = Math.max(backoffDelayMs(attempt - 1, policy, options.random), Math.min(policy.maxDelayMs, asked ?? 0));
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
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
