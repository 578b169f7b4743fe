/**
 * Limits on guessing the admin token, per client address: each wrong token (a bearer header or a
 * sign-in form) counts, and a client past AUTH_FAILURE_LIMIT wrong tokens in a period is refused
 * with 429 for the rest of it, even with the right token. Otherwise a guesser past the limit would
 * still tell a right guess (200) from a wrong one (429), and the limit would slow nothing.
 *
 * The count: the Workers Rate Limiting binding AUTH_FAILURES where it is configured (wrangler.toml
 * configures it for every environment; wrangler dev and workerd's tests simulate it locally), else
 * a count in this isolate's memory, exact for the one isolate of a local Worker. The binding counts
 * per Cloudflare location and only increments while under its limit; it has no way to ask "is this
 * client over?" without counting, so the refusal of later requests is remembered in this isolate:
 * past the limit, each isolate that sees one more wrong token from the client refuses it from then
 * on. https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";

/** Wrong tokens a client may present per period; wrangler.toml's AUTH_FAILURES says the same. */
export const AUTH_FAILURE_LIMIT = 10;
/** The period, in seconds (the binding allows 10 or 60). */
export const AUTH_FAILURE_PERIOD_S = 60;

/** Entries past this many, the memory count drops the ones whose period is over. */
const MAX_TRACKED_CLIENTS = 10_000;

/** What is guessed: the bearer token of the API, or the token of the status page's sign-in form. */
export type GuessKind = "bearer" | "sign-in";

interface Window {
  start: number;
  count: number;
}

/** This isolate's memory: wrong tokens per client (without the binding), and refused clients. */
const failures = new Map<string, Window>();
const refusedUntil = new Map<string, number>();

/** Keeps this isolate's memory bounded: past MAX_TRACKED_CLIENTS, drops what no longer matters. */
function forgetExpired(now: number): void {
  if (failures.size > MAX_TRACKED_CLIENTS) {
    for (const [key, window] of failures) if (now - window.start >= AUTH_FAILURE_PERIOD_S * 1000) failures.delete(key);
  }
  if (refusedUntil.size > MAX_TRACKED_CLIENTS) {
    for (const [key, until] of refusedUntil) if (until <= now) refusedUntil.delete(key);
  }
}

/** Whether `hostname` is this machine: a Worker reached there is a local one (wrangler dev, npm start). */
function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(hostname) || hostname === "[::1]";
}

/**
 * The client a limit applies to, with the kind of guess: its address as Cloudflare puts it in
 * CF-Connecting-IP ("unknown" when there is none). Cloudflare overwrites that header, but wrangler
 * dev passes on whatever a client sends, so on a local Worker (reached on a loopback host) every
 * client counts as one, or a guesser could name a new address with each guess.
 */
export function clientKey(c: Context, kind: GuessKind): string {
  const url = new URL(c.req.url);
  if (isLoopback(url.hostname)) return `${kind}:local ${url.host}`;
  return `${kind}:${c.req.header("CF-Connecting-IP") ?? "unknown"}`;
}

/** Seconds until a refused client may try again, or 0 when it is not refused. */
export function refusedFor(key: string, now = Date.now()): number {
  const until = refusedUntil.get(key);
  if (until === undefined || until <= now) {
    refusedUntil.delete(key);
    return 0;
  }
  return Math.ceil((until - now) / 1000);
}

/** Counts one wrong token in this isolate's memory; true while the client is within the limit. */
function countInMemory(key: string, now: number): boolean {
  const periodMs = AUTH_FAILURE_PERIOD_S * 1000;
  const window = failures.get(key);
  if (window === undefined || now - window.start >= periodMs) {
    failures.set(key, { start: now, count: 1 });
    return true;
  }
  window.count += 1;
  return window.count <= AUTH_FAILURE_LIMIT;
}

/**
 * Counts one wrong token of `key`; past the limit the client is refused for a period.
 * @returns true while the client is within the limit
 */
export async function countFailure(env: Env, key: string, now = Date.now()): Promise<boolean> {
  forgetExpired(now);
  // Typed as always there (wrangler.toml has it), but a deployment's config may leave it out.
  const limiter = (env as { AUTH_FAILURES?: RateLimit }).AUTH_FAILURES;
  const within = limiter === undefined ? countInMemory(key, now) : (await limiter.limit({ key })).success;
  if (!within) {
    refusedUntil.set(key, now + AUTH_FAILURE_PERIOD_S * 1000);
  }
  return within;
}

/** The 429 of a refused client, with Retry-After (RFC 6585 §4). */
export function tooManyWrongTokens(c: Context, seconds: number): HTTPException {
  c.header("Retry-After", String(Math.max(1, seconds)));
  return new HTTPException(429, { message: `too many wrong tokens from this address: try again in ${Math.max(1, seconds)} s` });
}
