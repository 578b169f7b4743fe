/**
 * Where things live. R2 is the source of truth; KV holds hot copies under its own names. Keeping
 * every key in one module means the publisher and the Worker can never disagree on a path.
 */

/**
 * R2: the dataset's head (named "manifest" since schema 1, so a store upgrades in place): the
 * current version, pinned, freshness and one summary line per retained version. The only mutable
 * object of a dataset, written last and only by compare-and-swap.
 */
export function manifestObjectKey(dataset: string): string {
  return `datasets/${dataset}/manifest.json`;
}

/** R2: everything stored for one dataset (the head, versions, pages, item index shards). */
export function datasetPrefix(dataset: string): string {
  return `datasets/${dataset}/`;
}

/** R2: the folder holding one folder per version of a dataset. */
export function versionsPrefix(dataset: string): string {
  return `${datasetPrefix(dataset)}versions/`;
}

/** R2: prefix of every object of one version (immutable once the manifest names it). */
export function versionPrefix(dataset: string, version: string): string {
  return `${versionsPrefix(dataset)}${version}/`;
}

/**
 * R2: a version's index: its columns, pages, item index and formats. Immutable, written before the
 * head names the version.
 */
export function versionIndexKey(dataset: string, version: string): string {
  return `${versionPrefix(dataset, version)}index.json`;
}

/** R2: the keys a keyed version added, changed and removed against the version before it. */
export function keyChangesKey(dataset: string, version: string): string {
  return `${versionPrefix(dataset, version)}changes.json`;
}

/** R2: prefix of a dataset's content-addressed pages (shared by every version that holds them). */
export function pagesPrefix(dataset: string): string {
  return `${datasetPrefix(dataset)}pages/`;
}

/** R2: a page named by its sha256: a JSON array of whole rows, shared by every version holding it. */
export function pageObjectKey(dataset: string, sha256: string): string {
  return `${pagesPrefix(dataset)}${sha256}.json`;
}

/**
 * R2: the same rows as the page `sha256` names, as NDJSON (one record and "\n" per row). Named by
 * the JSON page's hash: its bytes follow from that page's.
 */
export function ndjsonPageObjectKey(dataset: string, sha256: string): string {
  return `${pagesPrefix(dataset)}${sha256}.ndjson`;
}

/**
 * R2: one page's NDJSON compressed on its own (raw DEFLATE ended by a full flush), named by its own
 * sha256; a version's gzip NDJSON is its pages' pieces stitched into one gzip stream (contract/gzip.ts).
 */
export function deflatePieceObjectKey(dataset: string, sha256: string): string {
  return `${pagesPrefix(dataset)}${sha256}.deflate`;
}

/** R2: prefix of a dataset's content-addressed item index shards. */
export function itemsPrefix(dataset: string): string {
  return `${datasetPrefix(dataset)}items/`;
}

/** R2: an item index shard named by its sha256 (lines of key, page, offset, length). */
export function itemShardObjectKey(dataset: string, sha256: string): string {
  return `${itemsPrefix(dataset)}${sha256}.tsv`;
}

/** R2 (schema 2 versions): page `page` (from 1) of a version, in the version's own folder. */
export function legacyPageObjectKey(dataset: string, version: string, page: number): string {
  return `${versionPrefix(dataset, version)}pages/${page}.json`;
}

/**
 * R2 (schema 2 versions): one item shard: lines of `<key>\t<record>`, where the record is the row's
 * bytes exactly as in the body (keys hold no control characters, so a tab ends the key).
 */
export function legacyShardObjectKey(dataset: string, version: string, shard: number): string {
  return `${versionPrefix(dataset, version)}items/${shard}.tsv`;
}

/** R2: the version in another format stored whole (`data.csv`, `data.parquet`; `data.ndjson` in schema 2). */
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
 * KV holds hot copies of immutable objects only (indexes, pages and item shards), under the object's own R2
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
