/**
 * Item shards: a keyed snapshot is also written as N shards, each a JSON object from key to record,
 * so one item lookup reads one shard (bounded size), never the whole snapshot. Both sides must pick
 * the same shard for a key, so the hash lives here: 32-bit FNV-1a over the key's UTF-8 bytes.
 */
/** Target size of one shard; the publisher picks the shard count so shards stay near this. */
export declare const TARGET_SHARD_BYTES: number;
/** Upper bound on shards per version (keeps the object count of one version bounded). */
export declare const MAX_SHARDS = 4096;
/** FNV-1a 32-bit hash of the UTF-8 bytes of `key`. http://www.isthe.com/chongo/tech/comp/fnv/ */
export declare function fnv1a32(key: string): number;
/** The shard index of `key` among `shardCount` shards. */
export declare function shardOf(key: string, shardCount: number): number;
/** The number of shards for a body of `bodyBytes`: a power of two, at least 1, at most MAX_SHARDS. */
export declare function shardCountFor(bodyBytes: number): number;
