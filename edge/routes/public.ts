/**
 * Public reads under /v1: the catalog, current and versioned snapshot bodies, and single items.
 * Read order: this location's Cache API, then KV, then R2. Conditional requests are answered from
 * the manifest before any body is read. HEAD is served by Hono's GET routes (same headers, no
 * body); the handlers check the method so a HEAD never opens a body.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  currentVersion,
  fnv1a32,
  isDatasetName,
  isItemKey,
  isVersionId,
  shardOf,
  type VersionInfo,
} from "../../contract/index.ts";
import { notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { ifNoneMatchMatches, isNotModified, strongEtag } from "../http/conditional.ts";
import { methodNotAllowed } from "../http/errors.ts";
import { readCatalog } from "../snapshots/catalog.ts";
import { catalogCacheKey, currentCacheKey, itemCacheKey, versionCacheKey } from "../snapshots/edge-cache.ts";
import { openBody, readManifest, readShard, resolveVersion } from "../snapshots/read.ts";

type AppContext = Context<{ Bindings: Env }>;

const READ_METHODS = "GET, HEAD";

function requireDatasetName(c: AppContext): string {
  const name = c.req.param("name") ?? "";
  if (!isDatasetName(name)) throw new HTTPException(400, { message: `malformed dataset name ${JSON.stringify(name)}` });
  return name;
}

function requireVersionId(c: AppContext): string {
  const version = c.req.param("version") ?? "";
  if (!isVersionId(version)) throw new HTTPException(400, { message: `malformed version id ${JSON.stringify(version)}` });
  return version;
}

function requireItemKey(c: AppContext): string {
  const key = c.req.param("key") ?? "";
  if (!isItemKey(key)) throw new HTTPException(400, { message: "malformed item key" });
  return key;
}

async function requireCurrentVersion(c: AppContext, dataset: string): Promise<VersionInfo> {
  const read = await readManifest(c.env, dataset);
  if (read === null) throw new HTTPException(404, { message: `unknown dataset ${dataset}` });
  const info = currentVersion(read.manifest);
  if (info === undefined) throw new HTTPException(404, { message: `dataset ${dataset} has no published version yet` });
  return info;
}

async function requireVersion(c: AppContext, dataset: string, version: string): Promise<VersionInfo> {
  const info = await resolveVersion(c.env, dataset, version);
  if (info === null) throw new HTTPException(404, { message: `unknown version ${version} of dataset ${dataset}` });
  return info;
}

/** Stores a copy of a 200 GET response in this location's cache without delaying the response. */
function putInCache(c: AppContext, cacheKey: string, response: Response): void {
  c.executionCtx.waitUntil(caches.default.put(cacheKey, response.clone()));
}

/**
 * Answers from a cached response when there is one: 304 if the client's validators match it,
 * headers only for HEAD, else the cached body. Returns null on a miss.
 */
async function serveFromCache(c: AppContext, cacheKey: string): Promise<Response | null> {
  const hit = await caches.default.match(cacheKey);
  if (hit === undefined) return null;
  const etag = hit.headers.get("ETag") ?? "";
  const lastModified = new Date(hit.headers.get("Last-Modified") ?? 0);
  if (isNotModified(c.req.raw.headers, etag, lastModified)) {
    await hit.body?.cancel();
    return notModifiedResponse(hit.headers);
  }
  if (c.req.method === "HEAD") {
    await hit.body?.cancel();
    return new Response(null, { headers: hit.headers });
  }
  // Rebuild the response so later middleware (CORS) can add headers; cached headers are immutable.
  return new Response(hit.body, { status: hit.status, headers: hit.headers });
}

/** Serves a version's full body: 304 from the manifest, else streamed from KV or R2. */
async function serveBody(c: AppContext, dataset: string, info: VersionInfo, kind: UrlKind, cacheKey: string): Promise<Response> {
  const headers = representationHeaders({
    kind,
    etag: strongEtag(info.hash),
    lastModified: new Date(info.generated_at),
    version: info.version,
    contentLength: info.bytes,
  });
  if (isNotModified(c.req.raw.headers, strongEtag(info.hash), new Date(info.generated_at))) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const body = await openBody(c.env, dataset, info);
  if (body === null) throw new Error(`body of ${dataset}@${info.version} is listed in the manifest but missing from R2`);
  const response = new Response(body.body, { headers });
  putInCache(c, cacheKey, response);
  return response;
}

/** An item's entity tag: changes with the version's content hash and differs per key. */
export function itemEtag(info: VersionInfo, key: string): string {
  return strongEtag(`${info.hash.slice(0, 32)}-${fnv1a32(key).toString(16).padStart(8, "0")}`);
}

/** Serves one item of a keyed version by reading the single shard that holds its key. */
async function serveItem(c: AppContext, dataset: string, info: VersionInfo, key: string, kind: UrlKind): Promise<Response> {
  if (info.key === null || info.shards === 0) {
    throw new HTTPException(404, { message: `dataset ${dataset} is not keyed, so it has no items` });
  }
  const etag = itemEtag(info, key);
  const lastModified = new Date(info.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: info.version });
  const ifNoneMatch = c.req.header("If-None-Match");
  // "*" matches only if the item exists, which needs the shard; any other tag can be decided now.
  if (ifNoneMatch?.trim() !== "*" && isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);

  const cacheKey = itemCacheKey(dataset, info.version, key);
  let text: string;
  const hit = await caches.default.match(cacheKey);
  if (hit !== undefined) {
    text = await hit.text();
  } else {
    const shard = await readShard(c.env, dataset, info.version, shardOf(key, info.shards));
    if (shard === null) throw new Error(`shard of ${dataset}@${info.version} is listed in the manifest but missing from R2`);
    const records = JSON.parse(shard) as Record<string, unknown>;
    if (!Object.hasOwn(records, key)) throw new HTTPException(404, { message: `no item with key ${JSON.stringify(key)} in ${dataset}@${info.version}` });
    text = JSON.stringify(records[key]);
    const cached = new Response(text, { headers: representationHeaders({ kind: "versioned", etag, lastModified, version: info.version }) });
    c.executionCtx.waitUntil(caches.default.put(cacheKey, cached));
  }
  if (ifNoneMatchMatches(ifNoneMatch, etag)) return notModifiedResponse(headers);
  headers.set("Content-Length", String(new TextEncoder().encode(text).byteLength));
  return new Response(c.req.method === "HEAD" ? null : text, { headers });
}

/** The public read routes, mounted at /v1 by the app. */
export function publicRoutes(): Hono<{ Bindings: Env }> {
  const routes = new Hono<{ Bindings: Env }>();

  routes.get("/datasets", async (c) => {
    const cached = await serveFromCache(c, catalogCacheKey());
    if (cached !== null) return cached;
    const doc = await readCatalog(c.env);
    const etag = strongEtag(doc.hash);
    const lastModified = new Date(doc.lastModified);
    const headers = representationHeaders({ kind: "catalog", etag, lastModified, contentLength: new TextEncoder().encode(doc.text).byteLength });
    if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
    if (c.req.method === "HEAD") return new Response(null, { headers });
    const response = new Response(doc.text, { headers });
    putInCache(c, catalogCacheKey(), response);
    return response;
  });

  routes.get("/datasets/:name", async (c) => {
    const dataset = requireDatasetName(c);
    const cached = await serveFromCache(c, currentCacheKey(dataset));
    if (cached !== null) return cached;
    const info = await requireCurrentVersion(c, dataset);
    return serveBody(c, dataset, info, "current", currentCacheKey(dataset));
  });

  routes.get("/datasets/:name/versions/:version", async (c) => {
    const dataset = requireDatasetName(c);
    const version = requireVersionId(c);
    const cached = await serveFromCache(c, versionCacheKey(dataset, version));
    if (cached !== null) return cached;
    const info = await requireVersion(c, dataset, version);
    return serveBody(c, dataset, info, "versioned", versionCacheKey(dataset, version));
  });

  routes.get("/datasets/:name/items/:key", async (c) => {
    const dataset = requireDatasetName(c);
    const key = requireItemKey(c);
    return serveItem(c, dataset, await requireCurrentVersion(c, dataset), key, "current");
  });

  routes.get("/datasets/:name/versions/:version/items/:key", async (c) => {
    const dataset = requireDatasetName(c);
    const version = requireVersionId(c);
    const key = requireItemKey(c);
    return serveItem(c, dataset, await requireVersion(c, dataset, version), key, "versioned");
  });

  for (const path of [
    "/datasets",
    "/datasets/:name",
    "/datasets/:name/versions/:version",
    "/datasets/:name/items/:key",
    "/datasets/:name/versions/:version/items/:key",
  ]) {
    routes.all(path, methodNotAllowed(READ_METHODS));
  }
  return routes;
}
