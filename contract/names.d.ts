/**
 * Names that cross the wire: dataset names, item keys and version ids. Both the compute job and the
 * Worker validate with these, so a name the job can publish is always a name the edge can serve.
 */
/** Dataset names: lowercase, URL- and key-safe, at most 64 characters. */
export declare const DATASET_NAME_PATTERN: RegExp;
/**
 * Version ids sort by time: `20261123T161500123Z-3fa9c2d1` (UTC build time to the millisecond, then
 * the first 8 hex digits of the content hash).
 */
export declare const VERSION_ID_PATTERN: RegExp;
/** Item keys travel in a URL path segment and in KV key names (512 bytes at most, so keep a margin). */
export declare const MAX_ITEM_KEY_BYTES = 256;
export declare function isDatasetName(value: string): boolean;
export declare function isVersionId(value: string): boolean;
/** An item key is any non-empty string of at most MAX_ITEM_KEY_BYTES UTF-8 bytes without control characters. */
export declare function isItemKey(value: string): boolean;
/**
 * Makes a version id from the build time and the content hash.
 * @param generatedAt when the build finished
 * @param contentHash lowercase sha256 hex of the snapshot body
 */
export declare function makeVersionId(generatedAt: Date, contentHash: string): string;
