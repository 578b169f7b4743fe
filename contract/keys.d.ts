/**
 * Where things live. R2 is the source of truth; KV holds hot copies under its own names. Keeping
 * every key in one module means the publisher and the Worker can never disagree on a path.
 */
/** R2: the dataset's manifest, written last and only by compare-and-swap. */
export declare function manifestObjectKey(dataset: string): string;
/** R2: prefix of every object of one version (immutable once the manifest names it). */
export declare function versionPrefix(dataset: string, version: string): string;
/** R2: the full snapshot body of a version (a JSON array of records). */
export declare function bodyObjectKey(dataset: string, version: string): string;
/** R2: one item shard of a keyed version (a JSON object from key to record). */
export declare function shardObjectKey(dataset: string, version: string, shard: number): string;
/** R2: a run record. Newest first under a list, because the id starts with an inverted time. */
export declare function runObjectKey(dataset: string, runId: string): string;
/** R2 prefix under which every dataset's folder lives (list with delimiter "/" to enumerate datasets). */
export declare const DATASETS_PREFIX = "datasets/";
/** KV: hot copy of a manifest. */
export declare function manifestKvKey(dataset: string): string;
/** KV: hot copy of a version body (only when it fits under KV_VALUE_LIMIT_BYTES). */
export declare function bodyKvKey(dataset: string, version: string): string;
/** KV: hot copy of an item shard. */
export declare function shardKvKey(dataset: string, version: string, shard: number): string;
/** KV: the catalog of all datasets, rebuilt by the notice handler and by reconcile. */
export declare const CATALOG_KV_KEY = "catalog";
/**
 * KV values are limited to 25 MiB; keep a margin for metadata.
 * https://developers.cloudflare.com/kv/platform/limits/
 */
export declare const KV_VALUE_LIMIT_BYTES: number;
