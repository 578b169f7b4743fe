/**
 * The guards every form post of the status page passes, against cross-site request forgery
 * (https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html):
 * the Origin header must name the page's own origin, the body is a few KiB at most, and a post
 * that acts needs the session cookie plus the session's CSRF token in a hidden form field.
 * SameSite=Strict alone is not enough: a page on another port of the same host is the same site,
 * so its forms carry the cookie.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { configuredToken, csrfTokenFor, readSession, SESSION_COOKIE } from "../http/auth.ts";
import { tokensEqual } from "../http/bearer.ts";
import type { AppEnv } from "../env.ts";

/** The largest form body the page accepts: its forms send a token, a CSRF token and a version id. */
export const FORM_BODY_LIMIT_BYTES = 4096;

/** Name of the hidden form field that carries the CSRF token. */
export const CSRF_FIELD = "csrf";

/**
 * Refuses a post unless its Origin header is exactly the page's origin (403). hono's csrf() also
 * lets a post through on `Sec-Fetch-Site: same-origin` alone, whatever its Origin, so that path is
 * switched off here: browsers send Origin with every POST, and a post that says `Origin: null` (a
 * no-referrer page, a sandboxed frame) or sends none is refused like a foreign one. csrf() checks
 * only the content types a page on another origin can post without a CORS preflight; any other
 * body has no CSRF field and fails `requireSessionForm`.
 */
export function sameOriginOnly(): MiddlewareHandler {
  const check = csrf({ secFetchSite: () => false });
  return async function sameOriginOnly(c, next) {
    try {
      await check(c, async () => {});
    } catch (error) {
      if (!(error instanceof HTTPException) || error.status !== 403) throw error;
      const origin = c.req.header("Origin");
      const presented = origin === undefined ? "a post without an Origin header" : `a post from Origin ${origin}`;
      throw new HTTPException(403, { message: `refused ${presented}: the status page takes form posts from its own origin only` });
    }
    await next();
  };
}

/** Refuses a form body over FORM_BODY_LIMIT_BYTES with 413, before reading more of it. */
export function formBodyLimit(): MiddlewareHandler {
  return bodyLimit({
    maxSize: FORM_BODY_LIMIT_BYTES,
    onError: () => {
      throw new HTTPException(413, { message: `refused a form body over ${FORM_BODY_LIMIT_BYTES} bytes` });
    },
  });
}

/**
 * Requires a valid session and its CSRF token in the form. Without a session the browser is sent
 * back to sign in (and a stale cookie is dropped); with a missing or wrong token the answer is 403.
 */
export function requireSessionForm(): MiddlewareHandler<AppEnv> {
  return async function requireSessionForm(c, next) {
    const session = await readSession(c);
    if (session === null) {
      deleteCookie(c, SESSION_COOKIE, { path: "/admin" });
      return c.redirect("/admin", 303);
    }
    const form = await c.req.parseBody();
    const presented = form[CSRF_FIELD];
    const expected = await csrfTokenFor(configuredToken(c.env), session);
    if (typeof presented !== "string" || presented === "" || !(await tokensEqual(presented, expected))) {
      throw new HTTPException(403, { message: "refused a form post with a missing or wrong CSRF token: reload the status page and try again" });
    }
    await next();
  };
}
