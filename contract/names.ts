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

/**
 * Why `value` cannot be an item key, or null when it can. An item key must round-trip as one URL
 * path segment (`/items/<key>`) and as part of a storage key: non-empty, at most MAX_ITEM_KEY_BYTES
 * UTF-8 bytes, no control characters, not "." or ".." (URL parsers resolve those as dot-segments,
 * also when percent-encoded: https://url.spec.whatwg.org/#single-dot-path-segment), and valid
 * Unicode (a lone surrogate cannot be percent-encoded). The publisher rejects a snapshot with such a
 * key; the Worker answers 400 for one.
 */
export function itemKeyProblem(value: string): string | null {
  if (isPlainAsciiKey(value)) return null;
  if (value.length === 0) return "is empty";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return "contains a control character";
  if (value === "." || value === "..") return "is a dot-segment, which URLs cannot carry as a path segment";
  try {
    encodeURIComponent(value);
  } catch {
    return "is not valid Unicode (a lone surrogate)";
  }
  if (new TextEncoder().encode(value).byteLength > MAX_ITEM_KEY_BYTES) return `is longer than ${MAX_ITEM_KEY_BYTES} bytes`;
  return null;
}

/**
 * The common case, checked without encoding: printable ASCII, not a dot-segment, short enough
 * (a publisher checks millions of keys).
 */
function isPlainAsciiKey(value: string): boolean {
  if (value.length === 0 || value.length > MAX_ITEM_KEY_BYTES || value === "." || value === "..") return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return false;
  }
  return true;
}

/** Whether `value` can be an item key (see itemKeyProblem). */
export function isItemKey(value: string): boolean {
  return itemKeyProblem(value) === null;
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
