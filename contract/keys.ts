/**
 * Where things live. R2 is the source of truth; KV holds hot copies under its own names. Keeping
 * every key in one module means the publisher and the Worker can never disagree on a path.
 */

/** R2: the dataset's manifest, written last and only by compare-and-swap. */
export function manifestObjectKey(dataset: string): string {
  return `datasets/${dataset}/manifest.json`;
}

/** R2: the folder holding one folder per version of a dataset. */
export function versionsPrefix(dataset: string): string {
  return `datasets/${dataset}/versions/`;
}

/** R2: prefix of every object of one version (immutable once the manifest names it). */
export function versionPrefix(dataset: string, version: string): string {
  return `${versionsPrefix(dataset)}${version}/`;
}

/** R2: page `page` (from 1) of a version: a JSON array of whole rows. */
export function pageObjectKey(dataset: string, version: string, page: number): string {
  return `${versionPrefix(dataset, version)}pages/${page}.json`;
}

/**
 * R2: one item shard of a keyed version: lines of `<key>\t<record>`, where the record is the row's
 * bytes exactly as in the body (keys hold no control characters, so a tab ends the key).
 */
export function shardObjectKey(dataset: string, version: string, shard: number): string {
  return `${versionPrefix(dataset, version)}items/${shard}.tsv`;
}

/** R2: the version in another format (`data.csv`, `data.ndjson`, `data.parquet`). */
export function formatObjectKey(dataset: string, version: string, format: string): string {
  return `${versionPrefix(dataset, version)}data.${format}`;
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

/**
 * KV holds hot copies of immutable objects only (pages and item shards), under the object's own R2
 * key: an immutable key is either there or not, so KV's eventual consistency can never make an
 * answer stale. The mutable "current" pointer is always read from R2.
 * https://developers.cloudflare.com/kv/concepts/how-kv-works/
 */
export function hotCopyKey(objectKey: string): string {
  return objectKey;
}

/** KV: set once every hot copy of a version is in place, so reconcile checks one key per dataset. */
export function hotCopiesDoneKey(dataset: string, version: string): string {
  return `${versionPrefix(dataset, version)}hot-copies-done`;
}

/**
 * KV values are limited to 25 MiB; keep a margin for metadata.
 * https://developers.cloudflare.com/kv/platform/limits/
 */
export const KV_VALUE_LIMIT_BYTES = 25 * 1024 * 1024 - 64 * 1024;

/**
 * R2: the public catalog (`GET /v1/datasets`), rebuilt from the manifests after every manifest
 * change and by the edge's cron; written only when its content changes.
 */
export const CATALOG_OBJECT_KEY = "catalog.json";
