/**
 * Headers that keep the status page to itself. No page may frame it (`frame-ancestors 'none'`,
 * with X-Frame-Options for browsers that predate CSP 2), so a framed page cannot trick a click on
 * Pin or Roll back; its Content Security Policy lets it load only its own script and stylesheet,
 * connect and post only to its own origin, and nothing else (so injected markup could neither run
 * script nor send the session's key elsewhere); and its URLs never travel in a Referer.
 * https://www.w3.org/TR/CSP3/#directive-frame-ancestors, RFC 7034
 */
import type { MiddlewareHandler } from "hono";

/** The status page's Content Security Policy. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Sets the status page's security headers on every answer under /admin, errors included. */
export function statusPageHeaders(): MiddlewareHandler {
  return async function statusPageHeaders(c, next) {
    await next();
    c.res.headers.set("Content-Security-Policy", STATUS_PAGE_CSP);
    c.res.headers.set("X-Frame-Options", "DENY");
    c.res.headers.set("X-Content-Type-Options", "nosniff");
    c.res.headers.set("Referrer-Policy", "no-referrer");
  };
}
