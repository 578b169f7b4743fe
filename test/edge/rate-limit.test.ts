/**
 * Guessing the admin token, inside workerd: a client address that presents 10 wrong tokens within
 * a minute (bearer headers, or the status page's sign-in form) is refused with 429 and Retry-After
 * for the rest of it, even with the right token, while other addresses go on; a request without
 * any token is no guess. Counted by the AUTH_FAILURES Rate Limiting binding (simulated by workerd
 * here, as by wrangler dev), and by this isolate's memory where the binding is not configured. A
 * token shorter than 32 characters switches the admin surface off.
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MIN_TOKEN_LENGTH } from "../../contract/admin-token.ts";
import { createApp } from "../../edge/app.ts";
import { AUTH_FAILURE_LIMIT, AUTH_FAILURE_PERIOD_S } from "../../edge/http/rate-limit.ts";
import { BASE } from "./publish-fixture.ts";

const TOKEN = "test-token-0123456789abcdef0123456789abcdef";

let addresses = 0;
/** A client address no other test uses (the limits are per address). */
function freshAddress(): string {
  addresses += 1;
  return `198.51.100.${addresses}.${Math.random().toString(36).slice(2, 8)}`;
}

type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

/** Through the test's Worker, with its bindings (the AUTH_FAILURES binding among them). */
const withBinding: Fetch = (path, init = {}) => SELF.fetch(`${BASE}${path}`, { redirect: "manual", ...init });

/** Through the app with the binding left out: the count falls back to this isolate's memory. */
const app = createApp();
const withoutBinding: Fetch = (path, init = {}) =>
  Promise.resolve(app.fetch(new Request(`${BASE}${path}`, { redirect: "manual", ...init }), { ...env, AUTH_FAILURES: undefined } as unknown as Env, createExecutionContext()));

function bearer(fetcher: Fetch, address: string, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { "CF-Connecting-IP": address };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  return fetcher("/admin/v1/datasets", { headers });
}

function signIn(fetcher: Fetch, address: string, token: string): Promise<Response> {
  return fetcher("/admin/login", {
    method: "POST",
    headers: { "CF-Connecting-IP": address, "Content-Type": "application/x-www-form-urlencoded", Origin: BASE },
    body: new URLSearchParams({ token }).toString(),
  });
}

/**
 * Presents wrong tokens until the first 429 (at most three limits' worth) and returns how many were
 * answered 401 first. The binding's windows are aligned to the clock, so when the guesses straddle
 * a window's end the count restarts once: then the refusal comes later, never sooner.
 */
async function wrongUntilRefused(guess: () => Promise<Response>): Promise<{ refusedAfter: number; straddled: boolean; refusal: Response }> {
  const window = () => Math.floor(Date.now() / (AUTH_FAILURE_PERIOD_S * 1000));
  const first = window();
  for (let attempt = 0; attempt < 3 * AUTH_FAILURE_LIMIT; attempt++) {
    const res = await guess();
    if (res.status === 429) return { refusedAfter: attempt, straddled: window() !== first, refusal: res };
    expect(res.status).toBe(401);
    await res.body?.cancel();
  }
  throw new Error(`no 429 after ${3 * AUTH_FAILURE_LIMIT} wrong tokens`);
}

describe.each([
  ["the Rate Limiting binding", withBinding],
  ["this isolate's memory (no binding)", withoutBinding],
])("wrong admin tokens, counted by %s", (_, fetcher) => {
  it("refuses an address after 10 wrong bearer tokens with 429 and Retry-After, even with the right token; other addresses go on", async () => {
    const guesser = freshAddress();
    const { refusedAfter, straddled, refusal } = await wrongUntilRefused(() => bearer(fetcher, guesser, "wrong-guess-0123456789abcdef0123456789"));
    if (straddled) expect(refusedAfter).toBeGreaterThanOrEqual(AUTH_FAILURE_LIMIT);
    else expect(refusedAfter).toBe(AUTH_FAILURE_LIMIT);
    expect(await refusal.json()).toEqual({ error: { code: "too_many_requests", message: expect.stringMatching(/^too many wrong tokens from this address: try again in \d+ s$/) } });
    expect(Number(refusal.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(refusal.headers.get("retry-after"))).toBeLessThanOrEqual(AUTH_FAILURE_PERIOD_S);
    expect(refusal.headers.get("cache-control")).toBe("no-store");

    // The right token changes nothing for the guesser: a right guess must look like any other.
    expect((await bearer(fetcher, guesser, TOKEN)).status).toBe(429);
    expect((await bearer(fetcher, freshAddress(), TOKEN)).status).toBe(200);
  });

  it("refuses an address after 10 wrong sign-ins with 429, even with the right token, and sets no cookie", async () => {
    const guesser = freshAddress();
    const { refusedAfter, straddled, refusal } = await wrongUntilRefused(() => signIn(fetcher, guesser, "not the token"));
    if (straddled) expect(refusedAfter).toBeGreaterThanOrEqual(AUTH_FAILURE_LIMIT);
    else expect(refusedAfter).toBe(AUTH_FAILURE_LIMIT);
    expect(await refusal.json()).toEqual({ error: { code: "too_many_requests", message: expect.stringMatching(/^too many wrong tokens from this address: try again in \d+ s$/) } });
    expect(Number(refusal.headers.get("retry-after"))).toBeGreaterThan(0);

    const right = await signIn(fetcher, guesser, TOKEN);
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
    // Sign-in and the bearer API are counted apart, and other addresses sign in.
    expect((await bearer(fetcher, guesser, TOKEN)).status).toBe(200);
    expect((await signIn(fetcher, freshAddress(), TOKEN)).status).toBe(200);
  });

  it("does not count a request that presents no token", async () => {
    const address = freshAddress();
    for (let i = 0; i < 2 * AUTH_FAILURE_LIMIT; i++) expect((await bearer(fetcher, address, null)).status).toBe(401);
    expect((await bearer(fetcher, address, TOKEN)).status).toBe(200);
  });
});

describe("wrong admin tokens on a local Worker", () => {
  it("counts every client of a Worker on a loopback host as one: a new CF-Connecting-IP with each guess does not escape the limit", async () => {
    // wrangler dev passes on a client's own CF-Connecting-IP; only Cloudflare's edge overwrites it.
    const local = `http://127.0.0.${2 + Math.floor(Math.random() * 200)}:8787`;
    const guess = (i: number, token: string) => SELF.fetch(`${local}/admin/v1/datasets`, { headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": `10.0.0.${i}` } });
    let i = 0;
    const { refusedAfter, straddled } = await wrongUntilRefused(() => guess(i++, "wrong-guess-0123456789abcdef0123456789"));
    if (straddled) expect(refusedAfter).toBeGreaterThanOrEqual(AUTH_FAILURE_LIMIT);
    else expect(refusedAfter).toBe(AUTH_FAILURE_LIMIT);
    expect((await guess(99, TOKEN)).status).toBe(429);
  });
});

describe("the limit's numbers", () => {
  it("are 10 wrong tokens a minute, as wrangler.toml configures AUTH_FAILURES (checked in test/deploy/admin-token.test.ts)", () => {
    expect([AUTH_FAILURE_LIMIT, AUTH_FAILURE_PERIOD_S]).toEqual([10, 60]);
  });
});

describe("the admin token's length", () => {
  it("switches the admin surface off with a 503 naming the rule when EDGESNAP_TOKEN is shorter than 32 characters", async () => {
    const short = "s".repeat(MIN_TOKEN_LENGTH - 1);
    for (const path of ["/admin/v1/datasets", "/internal/v1/publish-notice"]) {
      const res = await Promise.resolve(
        app.fetch(new Request(`${BASE}${path}`, { method: path.includes("notice") ? "POST" : "GET", headers: { Authorization: `Bearer ${short}` } }), { ...env, EDGESNAP_TOKEN: short } as Env, createExecutionContext()),
      );
      expect(res.status, path).toBe(503);
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message).toBe("the admin API is disabled: EDGESNAP_TOKEN is 31 characters long, shorter than the 32 required; make one with `openssl rand -hex 32`");
      expect(error.message).not.toContain(short);
    }
    const signIn = await Promise.resolve(
      app.fetch(
        new Request(`${BASE}/admin/login`, { method: "POST", headers: { Origin: BASE, "Content-Type": "application/x-www-form-urlencoded" }, body: `token=${short}` }),
        { ...env, EDGESNAP_TOKEN: short } as Env,
        createExecutionContext(),
      ),
    );
    expect(signIn.status).toBe(503);
    expect(signIn.headers.get("set-cookie")).toBeNull();
  });

  it("takes a token of exactly 32 characters", async () => {
    const exact = "e".repeat(MIN_TOKEN_LENGTH);
    const res = await Promise.resolve(app.fetch(new Request(`${BASE}/admin/v1/datasets`, { headers: { Authorization: `Bearer ${exact}` } }), { ...env, EDGESNAP_TOKEN: exact } as Env, createExecutionContext()));
    expect(res.status).toBe(200);
  });
});
