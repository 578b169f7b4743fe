/**
 * Keys for this location's Cache API (`caches.default`). Keys live under one fixed origin rather
 * than the request's host, so the publish notice (which may arrive on a different hostname than
 * public reads) purges exactly the entries readers hit. The Cache API is per location and a no-op
 * on workers.dev: https://developers.cloudflare.com/workers/runtime-apis/cache/
 */

const CACHE_ORIGIN = "https://edgesnap-cache.internal";

/** The cache key of the catalog. */
export function catalogCacheKey(): string {
  return `${CACHE_ORIGIN}/v1/datasets`;
}

/** The cache key of a dataset's current body (purged by the publish notice). */
export function currentCacheKey(dataset: string): string {
  return `${CACHE_ORIGIN}/v1/datasets/${dataset}`;
}

/** The cache key of an immutable version body. */
export function versionCacheKey(dataset: string, version: string): string {
  return `${CACHE_ORIGIN}/v1/datasets/${dataset}/versions/${version}`;
}

/**
 * The cache key of one item of one version. Current item URLs are cached under the version they
 * resolved to, so a new version never serves an old item and no purge of every key is needed.
 */
export function itemCacheKey(dataset: string, version: string, key: string): string {
  return `${versionCacheKey(dataset, version)}/items/${encodeURIComponent(key)}`;
}

/** Deletes the entries of a dataset whose content changes when a new version is published. */
export async function purgeCurrent(dataset: string): Promise<void> {
  await Promise.all([caches.default.delete(currentCacheKey(dataset)), caches.default.delete(catalogCacheKey())]);
}
