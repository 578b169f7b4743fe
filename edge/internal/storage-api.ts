/**
 * The local Worker's storage API: the storage interface over HTTP for the compute side's runs
 * under `npm start` (contract/storage-api.ts). It exists only where the `EDGESNAP_STORAGE_API`
 * variable is "on", which `npm start` sets for its local Worker; deployed Workers never expose raw
 * storage writes. Bodies stream both ways: a PUT of any size goes to R2 part by part. A malformed
 * query (a list limit, a byte range) is the caller's mistake: 400 naming it, never a 500.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  DeleteBodySchema,
  STORAGE_HEADERS,
  toWire,
  type ListAnswer,
} from "../../contract/storage-api.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import type { AppEnv } from "../env.ts";
import { requireBearerToken } from "../http/auth.ts";
import { quoted } from "../http/errors.ts";
import { jsonBody, jsonBodyLimit } from "../http/json-body.ts";

/** R2 lists at most 1000 keys per call (its MaxKeys); the storage API takes the same range. */
export const MAX_LIST_LIMIT = 1000;

/**
 * The largest delete body: DeleteBodySchema's 1000 keys of up to 1024 bytes each (R2's key limit),
 * JSON-quoted, with room to spare.
 */
const MAX_DELETE_BODY_BYTES = 2 * 1024 * 1024;

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

/** A query integer written as plain digits, or null (so "1e3", "0x10", "1.0" and " 1" are refused). */
function digits(value: string | undefined): number | null {
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : null;
}

/**
 * The byte range of a ranged GET: both `offset` (from 0) and `length` (from 1), or neither.
 * @throws {HTTPException} 400 naming what is wrong
 */
export function rangeOf(offset: string | undefined, length: string | undefined): { offset: number; length: number } | undefined {
  if (offset === undefined && length === undefined) return undefined;
  const range = { offset: digits(offset), length: digits(length) };
  if (range.offset === null || range.length === null || range.length < 1) {
    throw new HTTPException(400, { message: "a ranged read takes offset (an integer from 0) and length (an integer from 1), both" });
  }
  return { offset: range.offset, length: range.length };
}

/**
 * The page size of a listing: absent, or an integer from 1 to MAX_LIST_LIMIT.
 * @throws {HTTPException} 400 naming the accepted range
 */
export function listLimitOf(limit: string | undefined): number | undefined {
  if (limit === undefined) return undefined;
  const value = digits(limit);
  if (value === null || value < 1 || value > MAX_LIST_LIMIT) {
    throw new HTTPException(400, { message: `limit must be an integer from 1 to ${MAX_LIST_LIMIT}, not ${quoted(limit)}` });
  }
  return value;
}

/**
 * Reads a ranged object; a range that starts at or past the object's end is the caller's mistake
 * (R2 throws "range not satisfiable"), answered 400 with the object's size.
 */
async function getRange(store: ObjectStore, key: string, range: { offset: number; length: number }) {
  try {
    return await store.get(key, { range });
  } catch (error) {
    const info = await store.head(key);
    if (info === null) return null;
    if (range.offset >= info.size) throw new HTTPException(400, { message: `offset ${range.offset} is at or past the end of the object (${info.size} bytes)` });
    throw error;
  }
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
    const range = rangeOf(c.req.query("offset"), c.req.query("length"));
    const object = range === undefined ? await c.var.store.get(key) : await getRange(c.var.store, key, range);
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

  routes.post("/delete", jsonBodyLimit(MAX_DELETE_BODY_BYTES), jsonBody(DeleteBodySchema), async (c) => {
    await c.var.store.delete(c.req.valid("json").keys);
    return c.json({ ok: true });
  });

  routes.get("/list", async (c) => {
    const page = await c.var.store.list(c.req.query("prefix") ?? "", {
      delimiter: c.req.query("delimiter") || undefined,
      cursor: c.req.query("cursor") || undefined,
      limit: listLimitOf(c.req.query("limit")),
    });
    const answer: ListAnswer = { objects: page.objects.map(toWire), prefixes: page.prefixes, cursor: page.cursor ?? null };
    return c.json(answer);
  });

  return routes;
}
