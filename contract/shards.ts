/**
 * Item shards: a keyed snapshot is also written as N shards so one item lookup reads one shard
 * (bounded size), never the whole snapshot. A shard is lines of `<key>\t<record>\n`, where the
 * record is the row's bytes exactly as they are in the body (an item and its row are byte-equal):
 * item keys hold no control characters, so the first tab ends the key, and a JSON record written
 * by polars holds no raw newline. Both sides must pick the same shard for a key, so the hash lives
 * here: 32-bit FNV-1a over the key's UTF-8 bytes.
 */

/**
 * Target size of one shard; the publisher picks the shard count so shards stay near this. An item
 * lookup reads one shard (from KV or R2) and scans it for its key, which takes about a millisecond
 * at this size; smaller shards would mean more objects per version (each an upload at publish time).
 */
export const TARGET_SHARD_BYTES = 1024 * 1024;

/** Upper bound on shards per version (keeps the object count of one version bounded). */
export const MAX_SHARDS = 4096;

/**
 * FNV-1a 32-bit hash of the UTF-8 bytes of `key`. http://www.isthe.com/chongo/tech/comp/fnv/
 * Encodes UTF-8 on the fly rather than with a TextEncoder: the publisher hashes every key of a
 * keyed snapshot (millions), and most keys are ASCII.
 */
export function fnv1a32(key: string): number {
  let hash = 0x811c9dc5;
  const mix = (byte: number) => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (let i = 0; i < key.length; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      mix(code);
      continue;
    }
    if (code >= 0xd800 && code < 0xdc00 && i + 1 < key.length) {
      const low = key.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (code >= 0xd800 && code < 0xe000) code = 0xfffd; // a lone surrogate, as TextEncoder writes it
    if (code < 0x800) {
      mix(0xc0 | (code >> 6));
    } else if (code < 0x10000) {
      mix(0xe0 | (code >> 12));
      mix(0x80 | ((code >> 6) & 0x3f));
    } else {
      mix(0xf0 | (code >> 18));
      mix(0x80 | ((code >> 12) & 0x3f));
      mix(0x80 | ((code >> 6) & 0x3f));
    }
    mix(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}

/** FNV-1a 32-bit hash of bytes[start, end): fnv1a32Bytes(utf8(key)) === fnv1a32(key). */
export function fnv1a32Bytes(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

/** The shard index of `key` among `shardCount` shards. */
export function shardOf(key: string, shardCount: number): number {
  return fnv1a32(key) % shardCount;
}

/** The number of shards for a body of `bodyBytes`: a power of two, at least 1, at most MAX_SHARDS. */
export function shardCountFor(bodyBytes: number): number {
  let count = 1;
  while (count < MAX_SHARDS && bodyBytes / count > TARGET_SHARD_BYTES) count *= 2;
  return count;
}

/** One line of a shard. */
export function shardLine(key: string, record: string): string {
  return `${key}\t${record}\n`;
}

/** The record stored for `key` in a shard's text, or null when the shard has no such key. Pure. */
export function findItem(shardText: string, key: string): string | null {
  return lineAfterKey(shardText, key);
}

/**
 * The rest of the line that starts `key<TAB>` in tab-separated, newline-ended text, or null when
 * no line does. Pure; shared by schema-2 record shards and schema-3 item shards.
 */
export function lineAfterKey(shardText: string, key: string): string | null {
  const prefix = `${key}\t`;
  let start = 0;
  if (!shardText.startsWith(prefix)) {
    const at = shardText.indexOf(`\n${prefix}`);
    if (at < 0) return null;
    start = at + 1;
  }
  const end = shardText.indexOf("\n", start);
  return shardText.slice(start + prefix.length, end < 0 ? undefined : end);
}
