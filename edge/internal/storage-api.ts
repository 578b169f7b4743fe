/**
 * The local Worker's storage API: the storage interface over HTTP for the compute side's runs
 * under `npm start` (contract/storage-api.ts). It exists only where the `EDGESNAP_STORAGE_API`
 * variable is "on", which `npm start` sets for its local Worker; deployed Workers never expose raw
 * storage writes. Bodies stream both ways: a PUT of any size goes to R2 part by part.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  DeleteBodySchema,
  STORAGE_HEADERS,
  toWire,
  type ListAnswer,
} from "../../contract/storage-api.ts";
import type { AppEnv } from "../env.ts";
import { requireBearerToken } from "../http/auth.ts";
import { jsonBody } from "../http/json-body.ts";

function parseMetadata(header: string | undefined): Record<string, string> | undefined {
  if (header === undefined) return undefined;
  try {
    const value = JSON.parse(decodeURIComponent(header)) as unknown;
    if (typeof value === "object" && value !== null && Object.values(value).every((v) => typeof v === "string")) return value as Record<string, string>;
  } catch {
    // fall through
  }
  throw new HTTPException(400, { message: `${STORAGE_HEADERS.metadata} must be a JSON object of strings` });
}

function rangeOf(offset: string | undefined, length: string | undefined): { offset: number; length: number } | undefined {
  if (offset === undefined && length === undefined) return undefined;
  const range = { offset: Number(offset), length: Number(length) };
  if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length < 0) {
    throw new HTTPException(400, { message: "offset and length must be non-negative integers" });
  }
  return range;
}

/** The storage API, mounted under /internal/v1/storage by the app. */
export function storageApiRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("*", async function storageApiEnabled(c, next) {
    if ((c.env.EDGESNAP_STORAGE_API as string) !== "on") throw new HTTPException(404, { message: "the storage API is off (npm start turns it on for its local Worker)" });
    await next();
  });
  routes.use("*", requireBearerToken());

  routes.get("/objects/:key", async (c) => {
    const key = c.req.param("key");
    if (c.req.method === "HEAD") {
      const info = await c.var.store.head(key);
      if (info === null) throw new HTTPException(404, { message: "no such object" });
      return c.body(null, 200, { [STORAGE_HEADERS.info]: encodeURIComponent(JSON.stringify(toWire(info))) });
    }
    const object = await c.var.store.get(key, { range: rangeOf(c.req.query("offset"), c.req.query("length")) });
    if (object === null) throw new HTTPException(404, { message: "no such object" });
    const { body, text: _text, ...info } = object;
    return c.body(body, 200, { [STORAGE_HEADERS.info]: encodeURIComponent(JSON.stringify(toWire(info))) });
  });

  routes.put("/objects/:key", async (c) => {
    const key = c.req.param("key");
    const ifNoneMatch = c.req.header("If-None-Match");
    if (ifNoneMatch !== undefined && ifNoneMatch !== "*") throw new HTTPException(400, { message: "If-None-Match must be *" });
    const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    let info;
    try {
      info = await c.var.store.put(key, body, {
        contentType: c.req.header("Content-Type"),
        customMetadata: parseMetadata(c.req.header(STORAGE_HEADERS.metadata)),
        sha256: c.req.header(STORAGE_HEADERS.sha256),
        ifMatch: c.req.header("If-Match")?.replace(/^"(.*)"$/, "$1"),
        ifNoneMatch: ifNoneMatch === "*" ? "*" : undefined,
      });
    } catch (error) {
      if (error instanceof HTTPException) throw error;
      throw new HTTPException(400, { message: `put refused: ${(error as Error).message}` });
    }
    if (info === null) throw new HTTPException(412, { message: "precondition failed" });
    return c.json(toWire(info));
  });

  routes.post("/delete", jsonBody(DeleteBodySchema), async (c) => {
    await c.var.store.delete(c.req.valid("json").keys);
    return c.json({ ok: true });
  });

  routes.get("/list", async (c) => {
    const limit = c.req.query("limit");
    const page = await c.var.store.list(c.req.query("prefix") ?? "", {
      delimiter: c.req.query("delimiter") || undefined,
      cursor: c.req.query("cursor") || undefined,
      limit: limit === undefined ? undefined : Number(limit),
    });
    const answer: ListAnswer = { objects: page.objects.map(toWire), prefixes: page.prefixes, cursor: page.cursor ?? null };
    return c.json(answer);
  });

  return routes;
}
