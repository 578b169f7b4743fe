/**
 * This location's Cache API (`caches.default`) in front of the read routes: one middleware looks a
 * request up before the handler runs and stores the handler's 200 after it. Keys live under one
 * fixed origin rather than the request's host, so a purge (which may arrive on another hostname
 * than the reads) deletes exactly the entries readers hit. The Cache API is per location and a
 * no-op on workers.dev: https://developers.cloudflare.com/workers/runtime-apis/cache/
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { isNotModified } from "../http/conditional.ts";
import { notModifiedResponse } from "../http/cache-headers.ts";

const CACHE_ORIGIN = "https://edgesnap-cache.internal";

/** The cache key of a read URL path (query strings are not part of any cacheable route). */
export function cacheKey(path: string): string {
  return `${CACHE_ORIGIN}${path}`;
}

/**
 * Answers from this location's cache when it holds the URL: 304 if the client's validators match,
 * headers only for HEAD, else the cached body. On a miss the handler runs and a 200 GET answer is
 * stored without delaying the response.
 */
export function edgeCache(): MiddlewareHandler<AppEnv> {
  return async function edgeCache(c, next) {
    const key = cacheKey(new URL(c.req.url).pathname);
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
    if (c.req.method === "GET" && c.res.status === 200) c.executionCtx.waitUntil(caches.default.put(key, c.res.clone()));
  };
}

/**
 * Drops this location's copies of what a manifest change makes wrong: the catalog and the current
 * URL, and the versioned body and pages of versions that are gone. (Other locations keep theirs
 * until they expire or are evicted: the Cache API is per location.)
 */
export async function purgeCurrent(dataset: string, removed: readonly { version: string; pages: number }[] = []): Promise<void> {
  const paths = ["/v1/datasets", `/v1/datasets/${dataset}`];
  for (const { version, pages } of removed) {
    paths.push(`/v1/datasets/${dataset}/versions/${version}`);
    for (let page = 1; page <= pages; page++) paths.push(`/v1/datasets/${dataset}/versions/${version}/pages/${page}`);
  }
  await Promise.all(paths.map((path) => caches.default.delete(cacheKey(path))));
}
