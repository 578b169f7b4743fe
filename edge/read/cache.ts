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
 * a current URL) and the configured staleness bound (FRESHNESS_SECONDS); errors are never stored.
 */
import type { Context, MiddlewareHandler } from "hono";
import { isDatasetName } from "../../contract/names.ts";
import type { AppEnv } from "../env.ts";
import { cacheControlFor, freshnessSeconds, notModifiedResponse, VERSION_HEADER } from "../http/cache-headers.ts";
import { isNotModified } from "../http/conditional.ts";
import { acceptsGzip, clientAcceptEncoding } from "../http/encoding.ts";

const CACHE_ORIGIN = "https://edgesnap-cache.internal";

/** Tag of the catalog and of other answers that span datasets. */
export const CATALOG_TAG = "catalog";
/** Tag of /v1/health. */
export const HEALTH_TAG = "health";

/** Tag of every response about a dataset. */
export function datasetTag(dataset: string): string {
  return `ds:${dataset}`;
}

/** Tag of the responses of one version of a dataset, at current and versioned URLs alike. */
export function versionTag(dataset: string, version: string): string {
  return `ds:${dataset}@${version}`;
}

/** Tag of a dataset's current URLs: what a publish, a rollback or a pin makes wrong. */
export function currentTag(dataset: string): string {
  return `ds:${dataset}:current`;
}

/**
 * The Cache-Tag values of a public response, from its path and X-Edgesnap-Version. A path under
 * `/v1/datasets/<name>` is about that dataset, current unless it names a version; `/v1/health` has
 * its own tag; anything else under /v1 (the catalog, documents spanning datasets) is the catalog's.
 * Pure.
 */
export function cacheTagsFor(path: string, version: string | null): string[] {
  const [, root, section, name, sub, leaf] = path.split("/");
  if (root !== "v1") return [];
  if (section === "health" && name === undefined) return [HEALTH_TAG];
  if (section !== "datasets" || name === undefined || name === "" || !isDatasetName(name)) return [CATALOG_TAG];
  const tags = [datasetTag(name)];
  if (version !== null) tags.push(versionTag(name, version));
  // A page named by its hash is immutable whatever the current version is.
  const byHash = sub === "pages" && /^[0-9a-f]{64}$/.test(leaf ?? "");
  if (sub !== "versions" && !byHash) tags.push(currentTag(name));
  return tags;
}

/**
 * Gives a public response its caching headers, in place: a cacheable (`public`) answer gets its
 * Cache-Tag and, when it carries the default current-URL policy, the configured bound; an error
 * without caching headers of its own gets `no-store`, so no cache keeps a 404 past a first publish.
 */
export function applyPublicCaching(response: Response, path: string, freshness: number): void {
  const headers = response.headers;
  const cacheControl = headers.get("Cache-Control");
  if (cacheControl !== null && /(^|[\s,])public([\s,]|$)/.test(cacheControl)) {
    if (cacheControl === cacheControlFor("current")) headers.set("Cache-Control", cacheControlFor("current", freshness));
    const tags = cacheTagsFor(path, headers.get(VERSION_HEADER));
    if (tags.length > 0) headers.set("Cache-Tag", tags.join(","));
  } else if (response.status >= 400) {
    headers.set("Cache-Control", "no-store");
    headers.delete("Cache-Tag");
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

/** Applies `applyPublicCaching` to every answer under /v1 (mounted by the app). */
export function publicCaching(): MiddlewareHandler<AppEnv> {
  return async function publicCaching(c, next) {
    await next();
    applyPublicCaching(c.res, c.req.path, freshnessSeconds(c.env));
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
    if (c.req.method === "GET" && c.res.status === 200) {
      applyPublicCaching(c.res, c.req.path, freshnessSeconds(c.env));
      ctx.waitUntil(caches.default.put(key, c.res.clone()));
    }
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
