/**
 * The guards of the status page's requests (https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html):
 * every post must name the page's own origin in its Origin header and be a few KiB at most, and
 * every view and every action needs the whole session: the cookie and its origin key in the
 * X-Edgesnap-Key header (edge/status-page/session.ts). A page on another origin cannot make a
 * browser send that header (it needs a CORS preflight, never granted) and cannot read the key, so
 * the key is also what stops a forged post; SameSite=Strict alone could not, since a page on
 * another port of the same host is the same site and its posts carry the cookie.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../env.ts";
import { clearSessionCookie, readSession, type AdminSession, type NoSession } from "./session.ts";

/** The largest form body the page accepts: its forms send a token, a version id and a return page. */
export const FORM_BODY_LIMIT_BYTES = 4096;

/** What the status page's handlers see: the app's bindings and storage, and the verified session. */
export interface PageEnv {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & { session: AdminSession };
}

/**
 * Refuses a post unless its Origin header is exactly the page's origin (403). hono's csrf() also
 * lets a post through on `Sec-Fetch-Site: same-origin` alone, whatever its Origin, so that path is
 * switched off here: browsers send Origin with every POST, and a post that says `Origin: null` (a
 * no-referrer page, a sandboxed frame) or sends none is refused like a foreign one.
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
      throw new HTTPException(403, { message: `refused ${presented}: the status page takes posts from its own origin only` });
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

const WHY: Record<NoSession, string> = {
  "no session": "not signed in",
  "no key": "the request carries no session key (the status page's script sends it)",
  "wrong key": "the session key does not match the session",
  ended: "the session was ended by a sign-out",
};

/**
 * Requires the whole session (cookie, key, not signed out) and puts it on the context; otherwise a
 * 401 the page's script turns into the sign-in form, and the cookie is dropped.
 */
export function requireSession(): MiddlewareHandler<PageEnv> {
  return async function requireSession(c, next) {
    const session = await readSession(c, c.var.store);
    if (typeof session === "string") {
      clearSessionCookie(c);
      throw new HTTPException(401, { message: `sign in again: ${WHY[session]}` });
    }
    c.set("session", session);
    await next();
  };
}
