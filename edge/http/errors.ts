/**
 * One error shape for every response the Worker sends: `{ "error": { "code", "message" } }`.
 * Handlers throw HTTPException(status, { message }); `handleError` turns anything thrown into that
 * shape, and unknown errors into a 500 that names no internals.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ProtocolError, type ProtocolErrorCode } from "../../contract/protocol/errors.ts";
import { log, errorFields } from "../log.ts";

/** The machine-readable codes clients can switch on. */
export const ERROR_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  410: "gone",
  412: "precondition_failed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  416: "range_not_satisfiable",
  429: "too_many_requests",
  500: "internal",
  503: "unavailable",
};

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The error code for an HTTP status (`internal` for any 5xx without its own code). */
export function errorCodeFor(status: number): string {
  return ERROR_CODES[status] ?? (status >= 500 ? "internal" : "bad_request");
}

/** Builds the JSON error body. */
export function errorBody(status: number, message: string): ErrorBody {
  return { error: { code: errorCodeFor(status), message } };
}

/**
 * Throws a 405 that tells the client which methods the route accepts
 * (RFC 9110 §15.5.6: a 405 response MUST carry an Allow header).
 */
export function methodNotAllowed(allow: string) {
  return function methodNotAllowed(c: Context): never {
    c.header("Allow", allow);
    throw new HTTPException(405, { message: `method ${c.req.method} is not allowed here; use ${allow}` });
  };
}

/** Longest piece of a request echoed back in an error message. */
export const MAX_ECHO_CHARS = 100;

/** A piece of the request, quoted for an error message and cut to MAX_ECHO_CHARS. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > MAX_ECHO_CHARS ? `${value.slice(0, MAX_ECHO_CHARS)}…` : value);
}

/** The HTTP status for each way the manifest protocol refuses something. */
const PROTOCOL_STATUS: Record<ProtocolErrorCode, ContentfulStatusCode> = {
  "not-found": 404,
  conflict: 409,
  invalid: 400,
  // A junk object in storage is the service's fault and a temporary one (the next publish or an
  // operator's rollback replaces it): 503, and it degrades only what reads that object.
  corrupt: 503,
};

/**
 * The app's one `onError`: HTTPExceptions and protocol refusals keep their status and message,
 * the rest become 500.
 */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json(errorBody(status, err.message || "error"), status);
  }
  if (err instanceof ProtocolError) {
    const status = PROTOCOL_STATUS[err.code];
    if (err.code === "corrupt") log.error("unreadable object", { path: c.req.path, error: err });
    return c.json(errorBody(status, err.message), status);
  }
  log.error("unhandled error", { path: c.req.path, error: errorFields(err), stack: err?.stack });
  return c.json(errorBody(500, "internal error"), 500);
}

/** The app's `notFound`: unknown paths get the same JSON shape as every other error. */
export function handleNotFound(c: Context): Response {
  return c.json(errorBody(404, `no route for ${c.req.method} ${quoted(c.req.path)}`), 404);
}
