/**
 * JSON request bodies: hono's own validator and body limit, plus what they leave to us. A body sent
 * as anything but JSON is refused with 415 (RFC 9110 §15.5.16) instead of being validated as an
 * empty object, zod's first complaint becomes a 400 naming the field, and a body over the limit is
 * refused with 413 (RFC 9110 §15.5.14) before more of it is read.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import type { z } from "zod";

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * The largest JSON body the admin API takes: its largest body, a run record, is a few hundred bytes
 * plus a reason the compute side cuts to 500 characters.
 */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * Refuses a request body over `maxBytes` with 413, whether its Content-Length says so or it streams
 * past the limit (hono's bodyLimit counts what it reads and stops there).
 * @param maxBytes default MAX_JSON_BODY_BYTES
 */
export function jsonBodyLimit(maxBytes = MAX_JSON_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new HTTPException(413, { message: `refused a request body over ${maxBytes} bytes` });
    },
  });
}

/** Validates the JSON body with `schema`; the handler reads it with `c.req.valid("json")`. */
export function jsonBody<S extends z.ZodType>(schema: S) {
  return validator("json", (value, c): z.infer<S> => {
    const mediaType = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new HTTPException(415, { message: "send the body as application/json" });
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HTTPException(400, { message: `invalid body: ${issue?.path.join(".") || "(root)"}: ${issue?.message}` });
    }
    return parsed.data;
  });
}
