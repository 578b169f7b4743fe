/**
 * The item index of a keyed version: where each record is, not a copy of it. An item lookup reads
 * one bounded shard of the index (`key\tpage\toffset\tlength` lines), then the record's bytes from
 * its page by a range read, so an item is byte for byte its record in the body and a keyed version
 * stores each record once.
 *
 * The index is a base plus a delta (see `ItemIndexSchema`): the base is rebuilt only when the delta
 * grows past a share of the rows (`needsNewBase`), so a version that changed a few pages writes the
 * keys of those pages only, and every other version's shards are shared by hash. A base entry whose
 * page is gone from the version (`base_map` -1) is a key that is gone with it: keys are unique, so
 * a key still present lives either in a page the base covers, at the same place, or in the delta.
 *
 * Both sides pick a key's shard with `shardOf` (contract/shards.ts): FNV-1a over its UTF-8 bytes.
 */
import { fnv1a32, lineAfterKey } from "./shards.ts";
import type { ItemIndex } from "./version-index.ts";

/** Target size of one index shard: a lookup reads one shard and scans it for its key (~1 ms). */
export const ITEM_SHARD_TARGET_BYTES = 1024 * 1024;

/** Upper bound on shards of a base or a delta. */
export const MAX_ITEM_SHARDS = 4096;

/** A new base is built when the delta would hold more than this share of the rows. */
export const DELTA_SHARE_LIMIT = 0.25;

/** Where a record is: page ordinal (from 0), byte offset in the page object, length in bytes. */
export interface ItemLocation {
  page: number;
  offset: number;
  length: number;
}

/** The number of shards for an index of about `indexBytes`: a power of two, at least 1. */
export function itemShardCountFor(indexBytes: number): number {
  let count = 1;
  while (count < MAX_ITEM_SHARDS && indexBytes / count > ITEM_SHARD_TARGET_BYTES) count *= 2;
  return count;
}

/** The shard of `key` among `count` shards (the same hash as shardOf). */
export function itemShardOf(key: string, count: number): number {
  return fnv1a32(key) % count;
}

/** One line of an index shard. */
export function itemEntryLine(key: string, location: ItemLocation): string {
  return `${key}\t${location.page}\t${location.offset}\t${location.length}\n`;
}

/** The location stored for `key` in a shard's text, or null when the shard has no such key. Pure. */
export function findItemEntry(shardText: string, key: string): ItemLocation | null {
  const line = lineAfterKey(shardText, key);
  if (line === null) return null;
  const fields = line.split("\t");
  const [page, offset, length] = fields.map(Number);
  if (fields.length !== 3 || ![page, offset, length].every((n) => Number.isSafeInteger(n) && n! >= 0)) {
    throw new Error(`malformed item index line for key ${JSON.stringify(key.slice(0, 80))}`);
  }
  return { page: page!, offset: offset!, length: length! };
}

/** Reads the text of an index shard by its sha256 (the caller's storage: KV, then R2). */
export type ShardReader = (sha256: string) => Promise<string>;

/**
 * Finds where `key`'s record is in the version: the delta first (this version's pages), then the
 * base (mapped to this version's pages; a page that is gone means the key is gone).
 * @returns the location in this version's pages, or null when the version has no such key
 */
export async function locateItem(items: Extract<ItemIndex, { kind: "index" }>, key: string, readShard: ShardReader): Promise<ItemLocation | null> {
  if (items.delta.length > 0) {
    const found = findItemEntry(await readShard(items.delta[itemShardOf(key, items.delta.length)]!), key);
    if (found !== null) return found;
  }
  const base = findItemEntry(await readShard(items.shards[itemShardOf(key, items.shards.length)]!), key);
  if (base === null) return null;
  const page = items.base_map[base.page];
  if (page === undefined) throw new Error(`item index names page ${base.page}, beyond its base of ${items.base_map.length}`);
  return page < 0 ? null : { ...base, page };
}

/** Whether a publish should build a new base rather than a delta over the previous one. Pure. */
export function needsNewBase(deltaRows: number, totalRows: number): boolean {
  return deltaRows > totalRows * DELTA_SHARE_LIMIT;
}
