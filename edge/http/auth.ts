/**
 * Authentication of the admin surface. The admin API takes `Authorization: Bearer <EDGESNAP_TOKEN>`
 * (RFC 6750 §2.1); the status page takes an HttpOnly session cookie derived from the token, so a
 * browser never has to hold the token in script-readable storage. Both compare in constant time
 * (edge/http/bearer.ts) and neither ever logs what was presented.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../env.ts";
import { bearerToken, tokensEqual } from "./bearer.ts";

/** Name of the status page's session cookie. */
export const SESSION_COOKIE = "edgesnap_session";

/** The configured token, or a 503 when the secret is missing (the admin surface is then off). */
export function configuredToken(env: Env): string {
  const expected = env.EDGESNAP_TOKEN;
  if (typeof expected !== "string" || expected === "") {
    throw new HTTPException(503, { message: "the admin API is disabled: the EDGESNAP_TOKEN secret is not set" });
  }
  return expected;
}

/**
 * The session value for a token: HMAC-SHA256(token, "edgesnap-admin-session") in hex. Holding it
 * proves the holder knew the token, and leaking it does not leak the token itself.
 */
export async function sessionValueFor(token: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(token), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("edgesnap-admin-session"));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether the request carries a valid status-page session cookie. */
export async function hasValidSession(c: Context<AppEnv>): Promise<boolean> {
  const presented = getCookie(c, SESSION_COOKIE);
  if (presented === undefined || presented === "") return false;
  return tokensEqual(presented, await sessionValueFor(configuredToken(c.env)));
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

/** Requires `Authorization: Bearer <EDGESNAP_TOKEN>`; 401 with a JSON error otherwise. */
export function requireBearerToken(): MiddlewareHandler<AppEnv> {
  return async function requireBearerToken(c, next) {
    const expected = configuredToken(c.env);
    const presented = bearerToken(c.req.header("Authorization"));
    if (presented === null || !(await tokensEqual(presented, expected))) {
      c.header("WWW-Authenticate", 'Bearer realm="edgesnap"');
      throw new HTTPException(401, { message: "missing or wrong bearer token" });
    }
    await next();
  };
}
