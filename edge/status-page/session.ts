/**
 * Status-page sessions. A session has two halves, and a request must bring both:
 *
 * - an HttpOnly, SameSite=Strict cookie `<issued at>.<random>.<HMAC-SHA256(token, both)>`, signed
 *   with EDGESNAP_TOKEN (so holding one proves the holder knew the token, and a new token ends every
 *   session); over HTTPS it is `__Host-edgesnap_session` (Secure, Path=/, no Domain: no other host
 *   or plain-HTTP page can set or overwrite it);
 * - the session's origin key, HMAC-SHA256(token, session id), handed to the page once in the answer
 *   to its sign-in and sent back by the page's script in the X-Edgesnap-Key header.
 *
 * Why two: cookies are scoped by host, not port (RFC 6265 §8.5), so a page served on another port
 * of the same host receives the cookie with every request the browser makes to it, and could
 * replay it. The key lives in the page's localStorage, which is per origin (scheme, host and port:
 * https://html.spec.whatwg.org/multipage/webstorage.html), is never sent anywhere but this origin,
 * and cannot be read by another origin; a custom header also means no other origin can make the
 * browser send a request that carries it (that needs a CORS preflight, which the Worker never
 * grants). A cookie alone opens nothing but the empty page shell.
 *
 * A session also ends on sign-out, or on "sign out everywhere", both kept in R2
 * (edge/status-page/revocations.ts), and after ADMIN_SESSION_HOURS. Keys and cookies are compared
 * in constant time, and none is ever logged.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import type { ObjectStore } from "../../contract/storage.ts";
import { configuredToken } from "../http/auth.ts";
import { tokensEqual } from "../http/bearer.ts";
import { isRevoked, readRevocations } from "./revocations.ts";

/** Name of the session cookie (with the `__Host-` prefix over HTTPS). */
export const SESSION_COOKIE = "edgesnap_session";

/** The request header that carries the session's origin key. */
export const SESSION_KEY_HEADER = "X-Edgesnap-Key";

/** How long a session lasts when ADMIN_SESSION_HOURS is not set. */
export const DEFAULT_SESSION_HOURS = 12;

/** The longest session ADMIN_SESSION_HOURS may ask for: 400 days. */
const MAX_SESSION_HOURS = 400 * 24;

/**
 * How far a session's issue time may lie in the future: Workers run on many machines, whose clocks
 * may differ a little; more than this is a forged or broken value.
 */
const CLOCK_SKEW_MS = 60_000;

/** A verified status-page session. */
export interface AdminSession {
  /** `<issued at, epoch ms>.<random hex>`: unique per sign-in. */
  id: string;
  /** When the session ends by age. */
  expiresAt: Date;
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

// Distinct labels keep a session's MAC and its origin key from ever being the same value, so the
// key handed to the page is no cookie, and the cookie no key.
const sessionMac = (token: string, id: string) => hmacHex(token, `edgesnap-admin-session\n${id}`);

/** The origin key of a session: HMAC-SHA256(token, session id). Another origin can neither read nor compute it. */
export function originKeyFor(token: string, sessionId: string): Promise<string> {
  return hmacHex(token, `edgesnap-admin-origin-key\n${sessionId}`);
}

/**
 * A new session: the cookie value `<issued at>.<random>.<HMAC-SHA256(token, both)>` and its id.
 * Keyed by the token, so leaking a cookie does not leak the token.
 */
export async function createSession(token: string, issuedAt = new Date()): Promise<{ id: string; cookie: string }> {
  const nonce = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const id = `${issuedAt.getTime()}.${nonce}`;
  return { id, cookie: `${id}.${await sessionMac(token, id)}` };
}

/** A context whose bindings are the Worker's (the status page's handlers add variables of their own). */
type WorkerEnv = { Bindings: Env };

/** Whether the page is served over HTTPS, where the cookie takes the `__Host-` prefix. */
function isHttps<E extends WorkerEnv>(c: Context<E>): boolean {
  return new URL(c.req.url).protocol === "https:";
}

/** Sets the session cookie: `__Host-` (Secure, Path=/) over HTTPS, Path=/admin over plain HTTP (local). */
export function setSessionCookie<E extends WorkerEnv>(c: Context<E>, value: string, maxAgeSeconds: number): void {
  const options = { httpOnly: true, sameSite: "Strict", maxAge: maxAgeSeconds } as const;
  if (isHttps(c)) setCookie(c, SESSION_COOKIE, value, { ...options, prefix: "host" });
  else setCookie(c, SESSION_COOKIE, value, { ...options, path: "/admin" });
}

/** Drops the session cookie from the browser. */
export function clearSessionCookie<E extends WorkerEnv>(c: Context<E>): void {
  if (isHttps(c)) deleteCookie(c, SESSION_COOKIE, { prefix: "host", path: "/", secure: true });
  else deleteCookie(c, SESSION_COOKIE, { path: "/admin" });
}

/**
 * The session the cookie names, checked by its MAC and age only (not its key, not revocation), or
 * null when the cookie is missing, forged, made with another token, too old or from the future.
 */
export async function readSessionCookie<E extends WorkerEnv>(c: Context<E>, now = Date.now()): Promise<AdminSession | null> {
  const value = getCookie(c, SESSION_COOKIE, isHttps(c) ? "host" : undefined) ?? "";
  const match = /^(\d{1,15})\.([0-9a-f]{32})\.([0-9a-f]{64})$/.exec(value);
  if (match === null) return null;
  const [, issued = "", nonce = "", mac = ""] = match;
  const id = `${issued}.${nonce}`;
  if (!(await tokensEqual(mac, await sessionMac(configuredToken(c.env), id)))) return null;
  const lifetimeMs = sessionLifetimeSeconds(c.env) * 1000;
  const age = now - Number(issued);
  if (age >= lifetimeMs || age < -CLOCK_SKEW_MS) return null;
  return { id, expiresAt: new Date(Number(issued) + lifetimeMs) };
}

/** Why a request is not signed in, for the 401 the page's script turns into the sign-in form. */
export type NoSession = "no session" | "no key" | "wrong key" | "ended";

/**
 * The request's whole session: a valid cookie, its origin key in X-Edgesnap-Key, and not ended by
 * a sign-out. One R2 read (the revocations), only once cookie and key are right.
 */
export async function readSession<E extends WorkerEnv>(c: Context<E>, store: ObjectStore): Promise<AdminSession | NoSession> {
  const session = await readSessionCookie(c);
  if (session === null) return "no session";
  const presented = c.req.header(SESSION_KEY_HEADER);
  if (presented === undefined || presented === "") return "no key";
  if (!(await tokensEqual(presented, await originKeyFor(configuredToken(c.env), session.id)))) return "wrong key";
  if (isRevoked(await readRevocations(store), session.id)) return "ended";
  return session;
}
