/**
 * Names that cross the wire: dataset names, item keys and version ids. Both the compute job and the
 * Worker validate with these, so a name the job can publish is always a name the edge can serve.
 */

/** Dataset names: lowercase, URL- and key-safe, at most 64 characters. */
export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Version ids sort by time: `20261123T161500123Z-3fa9c2d1` (UTC build time to the millisecond, then
 * the first 8 hex digits of the content hash).
 */
export const VERSION_ID_PATTERN = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

/** Item keys travel in a URL path segment and in KV key names (512 bytes at most, so keep a margin). */
export const MAX_ITEM_KEY_BYTES = 256;

export function isDatasetName(value: string): boolean {
  return DATASET_NAME_PATTERN.test(value);
}

export function isVersionId(value: string): boolean {
  return VERSION_ID_PATTERN.test(value);
}

/** An item key is any non-empty string of at most MAX_ITEM_KEY_BYTES UTF-8 bytes without control characters. */
export function isItemKey(value: string): boolean {
  if (value.length === 0) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return false;
  return new TextEncoder().encode(value).byteLength <= MAX_ITEM_KEY_BYTES;
}

/**
 * Makes a version id from the build time and the content hash.
 * @param generatedAt when the build finished
 * @param contentHash lowercase sha256 hex of the snapshot body
 */
export function makeVersionId(generatedAt: Date, contentHash: string): string {
  const stamp = generatedAt.toISOString().replace(/[-:]/g, "").replace(".", "");
  return `${stamp}-${contentHash.slice(0, 8)}`;
}
