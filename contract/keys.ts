/**
 * Where things live. R2 is the source of truth; KV holds hot copies under its own names. Keeping
 * every key in one module means the publisher and the Worker can never disagree on a path.
 */

/** R2: the dataset's manifest, written last and only by compare-and-swap. */
export function manifestObjectKey(dataset: string): string {
  return `datasets/${dataset}/manifest.json`;
}

/** R2: prefix of every object of one version (immutable once the manifest names it). */
export function versionPrefix(dataset: string, version: string): string {
  return `datasets/${dataset}/versions/${version}/`;
}

/** R2: the full snapshot body of a version (a JSON array of records). */
export function bodyObjectKey(dataset: string, version: string): string {
  return `${versionPrefix(dataset, version)}data.json`;
}

/** R2: one item shard of a keyed version (a JSON object from key to record). */
export function shardObjectKey(dataset: string, version: string, shard: number): string {
  return `${versionPrefix(dataset, version)}items/${shard}.json`;
}

/** R2: a run record. Newest first under a list, because the id starts with an inverted time. */
export function runObjectKey(dataset: string, runId: string): string {
  return `runs/${dataset}/${runId}.json`;
}

/** R2 prefix of every run record (list `runs/<dataset>/` for one dataset's runs, newest first). */
export const RUNS_PREFIX = "runs/";

/** R2 prefix of the rebuild requests: a pointer per dataset plus a folder of request records. */
export const REQUESTS_PREFIX = "requests/";

/** R2: the pointer to a dataset's latest rebuild request (`{ "id" }`), swapped by compare-and-swap. */
export function requestPointerKey(dataset: string): string {
  return `${REQUESTS_PREFIX}${dataset}.json`;
}

/** R2: one rebuild request record. Ids start with an inverted time, so a listing is newest first. */
export function requestObjectKey(dataset: string, requestId: string): string {
  return `${REQUESTS_PREFIX}${dataset}/${requestId}.json`;
}

/** R2 prefix under which every dataset's folder lives (list with delimiter "/" to enumerate datasets). */
export const DATASETS_PREFIX = "datasets/";

/** KV: hot copy of a manifest. */
export function manifestKvKey(dataset: string): string {
  return `manifest:${dataset}`;
}

/** KV: hot copy of a version body (only when it fits under KV_VALUE_LIMIT_BYTES). */
export function bodyKvKey(dataset: string, version: string): string {
  return `body:${dataset}:${version}`;
}

/** KV: hot copy of an item shard. */
export function shardKvKey(dataset: string, version: string, shard: number): string {
  return `shard:${dataset}:${version}:${shard}`;
}

/** KV: the catalog of all datasets, rebuilt by the notice handler and by reconcile. */
export const CATALOG_KV_KEY = "catalog";

/**
 * KV values are limited to 25 MiB; keep a margin for metadata.
 * https://developers.cloudflare.com/kv/platform/limits/
 */
export const KV_VALUE_LIMIT_BYTES = 25 * 1024 * 1024 - 64 * 1024;
