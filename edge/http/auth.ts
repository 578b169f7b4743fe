/**
 * Authentication of the admin surface. The admin API takes `Authorization: Bearer <EDGESNAP_TOKEN>`
 * (RFC 6750 §2.1); the status page takes an HttpOnly session cookie signed with the token (it
 * expires, and a new token ends every session), so a browser never has to hold the token in
 * script-readable storage, plus a CSRF token derived from the session in each form post. All
 * compare in constant time (edge/http/bearer.ts) and none ever logs what was presented.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { tokenProblem } from "../../contract/admin-token.ts";
import { bearerToken, tokensEqual } from "./bearer.ts";
import { clientKey, countFailure, refusedFor, tooManyWrongTokens } from "./rate-limit.ts";
import type { AppEnv } from "../env.ts";

/** Name of the status page's session cookie. */
export const SESSION_COOKIE = "edgesnap_session";

/** How long a status-page session lasts when ADMIN_SESSION_HOURS is not set. */
export const DEFAULT_SESSION_HOURS = 12;

/** The longest session ADMIN_SESSION_HOURS may ask for: 400 days. */
const MAX_SESSION_HOURS = 400 * 24;

/**
 * How far a session's issue time may lie in the future: Workers run on many machines, whose clocks
 * may differ a little; more than this is a forged or broken value.
 */
const CLOCK_SKEW_S = 60;

/** A verified status-page session. */
export interface AdminSession {
  /** `<issued at, epoch seconds>.<random hex>`: unique per sign-in, the CSRF token is derived from it. */
  id: string;
}

/**
 * The configured token, or a 503 when the secret is missing or shorter than MIN_TOKEN_LENGTH (the
 * admin surface is then off: a guessable token must fail where it is set, not work).
 */
export function configuredToken(env: Env): string {
  const expected = env.EDGESNAP_TOKEN;
  if (typeof expected !== "string" || expected === "") {
    throw new HTTPException(503, { message: "the admin API is disabled: the EDGESNAP_TOKEN secret is not set" });
  }
  const problem = tokenProblem(expected);
  if (problem !== null) throw new HTTPException(503, { message: `the admin API is disabled: EDGESNAP_TOKEN is ${problem}` });
  return expected;
}

/**
 * A session's lifetime in seconds, from the ADMIN_SESSION_HOURS var (default 12 hours).
 * @throws {HTTPException} 500 naming the var when it is not a positive number of hours up to 400 days.
 */
export function sessionLifetimeSeconds(env: Env): number {
  // Typed as wrangler.toml's literal, but a deployment may leave it out or set anything.
  const raw: unknown = env.ADMIN_SESSION_HOURS;
  if (raw === undefined || raw === "") return DEFAULT_SESSION_HOURS * 3600;
  const hours = Number(raw);
  // Browsers keep a cookie 400 days at most (RFC 6265bis §5.5), and hono refuses a longer Max-Age.
  if (!Number.isFinite(hours) || hours <= 0 || hours > MAX_SESSION_HOURS) {
    throw new HTTPException(500, { message: `ADMIN_SESSION_HOURS must be a positive number of hours up to ${MAX_SESSION_HOURS}, not "${String(raw)}"` });
  }
  return Math.round(hours * 3600);
}

/** HMAC-SHA256 of `message` keyed by `key`, in hex. */
async function hmacHex(key: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Distinct labels keep a session's MAC and its CSRF token from ever being the same value, so the
// token printed in the page's forms is no cookie.
const sessionMac = (token: string, id: string) => hmacHex(token, `edgesnap-admin-session\n${id}`);

/**
 * A new session cookie value: `<issued at>.<random>.<HMAC-SHA256(token, both)>`. Keyed by the token,
 * so holding one proves the holder knew the token, leaking one does not leak the token, and a new
 * token invalidates every session issued before.
 */
export async function createSessionValue(token: string, issuedAt = new Date()): Promise<string> {
  const nonce = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const id = `${Math.floor(issuedAt.getTime() / 1000)}.${nonce}`;
  return `${id}.${await sessionMac(token, id)}`;
}

/**
 * The request's status-page session, or null when the cookie is missing, forged, made with another
 * token, older than the session lifetime or issued in the future.
 */
export async function readSession(c: Context<AppEnv>, now = Date.now()): Promise<AdminSession | null> {
  const match = /^(\d{1,12})\.([0-9a-f]{32})\.([0-9a-f]{64})$/.exec(getCookie(c, SESSION_COOKIE) ?? "");
  if (match === null) return null;
  const [, issued = "", nonce = "", mac = ""] = match;
  const id = `${issued}.${nonce}`;
  if (!(await tokensEqual(mac, await sessionMac(configuredToken(c.env), id)))) return null;
  const age = now / 1000 - Number(issued);
  if (age >= sessionLifetimeSeconds(c.env) || age < -CLOCK_SKEW_S) return null;
  return { id };
}

/**
 * The CSRF token of a session, put in every form of the status page and required back with every
 * post: HMAC-SHA256(token, session id). A page on another origin can neither read it nor compute it.
 */
export function csrfTokenFor(token: string, session: AdminSession): Promise<string> {
  return hmacHex(token, `edgesnap-admin-csrf\n${session.id}`);
}

/**
 * Admin responses must never be cached by a browser or a proxy (RFC 9111 §5.2.2.5). Set before
 * the handler runs, so error responses built by `onError` carry it too.
 */
export function noStore(): MiddlewareHandler {
  return async function noStore(c, next) {
    c.header("Cache-Control", "no-store");
    await next();
    if (!c.res.headers.has("Cache-Control") || c.res.headers.get("Cache-Control") !== "no-store") {
      c.res.headers.set("Cache-Control", "no-store");
    }
  };
}

/**
 * Requires `Authorization: Bearer <EDGESNAP_TOKEN>`; 401 with a JSON error otherwise. Each wrong
 * token counts against the client's limit (edge/http/rate-limit.ts); a client past it gets 429
 * before its token is even compared.
 */
export function requireBearerToken(): MiddlewareHandler<AppEnv> {
  return async function requireBearerToken(c, next) {
    const expected = configuredToken(c.env);
    const client = clientKey(c, "bearer");
    const refused = refusedFor(client);
    if (refused > 0) throw tooManyWrongTokens(c, refused);
    const presented = bearerToken(c.req.header("Authorization"));
    if (presented === null || !(await tokensEqual(presented, expected))) {
      // No header at all is no guess; a wrong token is one.
      if (presented !== null && !(await countFailure(c.env, client))) throw tooManyWrongTokens(c, refusedFor(client));
      c.header("WWW-Authenticate", 'Bearer realm="edgesnap"');
      throw new HTTPException(401, { message: "missing or wrong bearer token" });
    }
    await next();
  };
}
