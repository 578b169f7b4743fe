/**
 * Item shards of a keyed snapshot: the body's records regrouped into shardCountFor(bytes) JSON
 * objects from key to record, each record in shard shardOf(key), so the edge answers
 * /items/:key by reading one bounded shard instead of the whole body. Pure.
 */
import { isItemKey, shardCountFor, shardOf } from "../../contract/index.ts";
import { EdgesnapError } from "../errors.ts";

/**
 * Splits a serialized body (a JSON array of records) into item shards.
 * The item key of a record is String(record[key]), the same string the edge looks up.
 * @returns one UTF-8 JSON object per shard, index = shard number
 * @throws {EdgesnapError} "gate-rejected" when a key is not a valid item key or two records share one
 */
export function buildItemShards(body: Uint8Array, key: string): Uint8Array[] {
  const records = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>[];
  const count = shardCountFor(body.byteLength);
  // Null-prototype objects, so a key such as "__proto__" is stored like any other.
  const shards: Record<string, unknown>[] = Array.from({ length: count }, () => Object.create(null) as Record<string, unknown>);
  for (const record of records) {
    const itemKey = String(record[key]);
    if (!isItemKey(itemKey)) {
      throw new EdgesnapError("gate-rejected", `gate: key ${JSON.stringify(itemKey.slice(0, 80))} is not a valid item key (1-256 bytes, no control characters)`);
    }
    const shard = shards[shardOf(itemKey, count)]!;
    if (Object.hasOwn(shard, itemKey)) {
      throw new EdgesnapError("gate-rejected", `gate: key column "${key}" has duplicate item key ${JSON.stringify(itemKey)}`);
    }
    shard[itemKey] = record;
  }
  const encoder = new TextEncoder();
  return shards.map((shard) => encoder.encode(JSON.stringify(shard)));
}
