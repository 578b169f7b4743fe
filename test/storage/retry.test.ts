/** Backoff and retry decisions for storage requests (pure functions). */
import { describe, expect, test } from "vitest";
import { backoffDelayMs, isRetryableStatus, retryAfterMs, type RetryPolicy } from "../../contract/retry.ts";

const policy: RetryPolicy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };

describe("backoffDelayMs", () => {
  test("the ceiling doubles with each retry: full jitter at the top of the range", () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3].map((retry) => backoffDelayMs(retry, policy, top))).toEqual([99, 199, 399, 799]);
  });

  test("the ceiling is capped at maxDelayMs", () => {
    expect(backoffDelayMs(10, policy, () => 0.999999)).toBe(999);
  });

  test("full jitter can pick any delay down to zero", () => {
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
    const delays = Array.from({ length: 200 }, () => backoffDelayMs(3, policy));
    expect(Math.min(...delays)).toBeLessThan(200);
    expect(Math.max(...delays)).toBeGreaterThan(600);
    expect(Math.max(...delays)).toBeLessThan(800);
  });
});

describe("isRetryableStatus", () => {
  test("retries server errors and throttling", () => {
    for (const status of [500, 502, 503, 504, 429]) expect(isRetryableStatus(status)).toBe(true);
  });

  test("never retries other client errors, preconditions included", () => {
    for (const status of [400, 401, 403, 404, 409, 412]) expect(isRetryableStatus(status)).toBe(false);
  });
});

describe("retryAfterMs", () => {
  test("reads delta-seconds and ignores absent or HTTP-date values", () => {
    expect(retryAfterMs("2")).toBe(2_000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT")).toBeUndefined();
  });
});
