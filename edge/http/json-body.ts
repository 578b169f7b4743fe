/**
 * JSON request bodies: hono's own validator, plus what it leaves to us. A body sent as anything
 * but JSON is refused with 415 (RFC 9110 §15.5.16) instead of being validated as an empty object,
 * and zod's first complaint becomes a 400 naming the field.
 */
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import type { z } from "zod";

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

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
