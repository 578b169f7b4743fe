/**
 * Caching of the public routes. In production Workers Cache sits in front of the Worker (a hit
 * never runs it; purged by tag with `ctx.cache.purge`, see edge/sync/purge.ts):
 * https://developers.cloudflare.com/workers/cache/. Where `ctx.cache` is absent (wrangler dev,
 * Miniflare) this location's Cache API (`caches.default`) stands in: `edgeCache()` looks a request
 * up before the handler runs and stores the handler's 200 after it, and `purgeCurrent` deletes by
 * URL. Cache API keys live under one fixed origin rather than the request's host, so a purge (which
 * may arrive on another hostname than the reads) deletes exactly the entries readers hit.
 *
 * Every cacheable public response carries `Cache-Tag` (its dataset, its version, and whether it is
 * a current URL) and the configured staleness bound (FRESHNESS_SECONDS), both set where the answer
 * is made (`representationHeaders`); errors are never stored.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { notModifiedResponse } from "../http/cache-headers.ts";
import { isNotModified } from "../http/conditional.ts";
import { acceptsGzip, clientAcceptEncoding } from "../http/encoding.ts";

const CACHE_ORIGIN = "https://edgesnap-cache.internal";

export { CATALOG_TAG, currentTag, datasetTag, HEALTH_TAG, versionTag } from "../http/cache-headers.ts";

/**
 * Every answer under /v1 carries its own caching headers (`representationHeaders`, from what it
 * is); an error without them gets `no-store`, so no cache keeps a 404 past a first publish.
 */
export function applyErrorCaching(response: Response): void {
  const cacheControl = response.headers.get("Cache-Control");
  if (response.status >= 400 && (cacheControl === null || !/(^|[\s,])public([\s,]|$)/.test(cacheControl))) {
    response.headers.set("Cache-Control", "no-store");
    response.headers.delete("Cache-Tag");
  }
}

/** The request's execution context, or undefined where there is none (a bare `app.request`). */
export function executionContextOf(c: Context): ExecutionContext | undefined {
  try {
    return c.executionCtx as ExecutionContext;
  } catch {
    return undefined;
  }
}

/** Applies `applyErrorCaching` to every answer under /v1 (mounted by the app). */
export function publicCaching(): MiddlewareHandler<AppEnv> {
  return async function publicCaching(c, next) {
    await next();
    applyErrorCaching(c.res);
  };
}

/** The Cache API key of a read URL path (query strings are not part of any cacheable route). */
export function cacheKey(path: string): string {
  return `${CACHE_ORIGIN}${path}`;
}

/**
 * Where Workers Cache is absent, answers from this location's Cache API when it holds the URL:
 * 304 if the client's validators match, headers only for HEAD, else the cached body. On a miss the
 * handler runs and a 200 GET answer is stored, with its public caching headers, without delaying
 * the response. With Workers Cache (`ctx.cache`) it steps aside: a second, per-location cache
 * behind it would keep copies that a tag purge cannot reach.
 */
export function edgeCache(): MiddlewareHandler<AppEnv> {
  return async function edgeCache(c, next) {
    const ctx = executionContextOf(c);
    if (ctx === undefined || ctx.cache !== undefined) return next();
    // A ranged GET is answered by the handler, reading only the bytes it asks for (a cached whole
    // answer would have to be read up to the range's end); its 206 is not stored.
    if (c.req.method === "GET" && c.req.header("Range") !== undefined) return next();
    const path = new URL(c.req.url).pathname;
    // CSV and NDJSON vary by Accept-Encoding (their gzip copy): one entry per encoding.
    const gzip = /\.(csv|ndjson)$/.test(path) && acceptsGzip(clientAcceptEncoding(c.req.raw));
    const key = `${cacheKey(path)}${gzip ? "?encoding=gzip" : ""}`;
    const hit = await caches.default.match(key);
    if (hit !== undefined) {
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
      // A new Response so later middleware (CORS) can add headers; cached headers are immutable.
      return new Response(hit.body, { status: hit.status, headers: hit.headers });
    }
    await next();
    if (c.req.method === "GET" && c.res.status === 200) ctx.waitUntil(caches.default.put(key, c.res.clone()));
  };
}

/**
 * Drops this location's Cache API copies of what a manifest change makes wrong: the catalog and the
 * current URL, and the versioned body and pages of versions that are gone. (Other locations keep
 * theirs until they expire, FRESHNESS_SECONDS at most: the Cache API is per location. Only local
 * runs take this path; production purges Workers Cache by tag.)
 */
export async function purgeCurrent(dataset: string, removed: readonly { version: string; pages: number }[] = []): Promise<void> {
  const paths = ["/v1/datasets", `/v1/datasets/${dataset}`];
  for (const { version, pages } of removed) {
    paths.push(`/v1/datasets/${dataset}/versions/${version}`, `/v1/datasets/${dataset}/versions/${version}/index`);
    for (let page = 1; page <= pages; page++) paths.push(`/v1/datasets/${dataset}/versions/${version}/pages/${page}`);
  }
  await Promise.all(paths.map((path) => caches.default.delete(cacheKey(path))));
}
