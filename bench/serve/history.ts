/**
 * A dataset the serving benchmark reads as if it had 30 million rows and 100 retained versions:
 * its head lists 100 versions, each version's index lists ~700 pages and 4,096 item index shards,
 * exactly as a publish of 30M keyed rows writes them. Only the objects the benchmark reads are
 * stored (the page it asks for, the item index shard of its key, at a realistic ~160 KiB): what
 * a read costs is finding them, which depends on the head and the index, not on the other pages.
 * The page it reads holds the same bytes as the small dataset's, so the two datasets' figures
 * compare the cost of finding the bytes, not of sending different ones.
 */
import { createHash } from "node:crypto";
import { itemShardObjectKey, pageObjectKey } from "../../contract/keys.ts";
import { INDEX_SCHEMA_VERSION, itemEntryLine, itemShardOf, makeVersionId, type VersionIndex } from "../../contract/index.ts";
import { commitVersion, writeIndex } from "../../contract/protocol/manifests.ts";
import type { ObjectStore } from "../../contract/storage.ts";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

export interface LongHistory {
  /** The page number the benchmark reads, and an item key in it. */
  page: number;
  key: string;
  /** The current version's body hash (for a conditional request). */
  hash: string;
  version: string;
}

/**
 * Publishes the long history under `dataset`: `versions` versions of `rows` rows in `pages` pages,
 * page `page` holding `pageText` (records keyed by `keyName`).
 */
export async function publishLongHistory(
  store: ObjectStore,
  dataset: string,
  options: { rows: number; pages: number; versions: number; page: number; pageText: string; keyName: string },
): Promise<LongHistory> {
  const records = JSON.parse(options.pageText) as Record<string, unknown>[];
  const pageSha = sha(options.pageText);
  await store.put(pageObjectKey(dataset, pageSha), options.pageText, { contentType: "application/json" });
  const shardCount = 4096;
  const key = String(records[Math.floor(records.length / 2)]![options.keyName]);
  // The shard that holds `key`: its own entries, then as many others as a 30M-row index has per shard.
  let offset = 1;
  const lines: string[] = [];
  for (const record of records) {
    const length = Buffer.byteLength(JSON.stringify(record));
    if (itemShardOf(String(record[options.keyName]), shardCount) === itemShardOf(key, shardCount)) {
      lines.push(itemEntryLine(String(record[options.keyName]), { page: options.page - 1, offset, length }));
    }
    offset += length + 1;
  }
  for (let i = 0; lines.length < Math.round(options.rows / shardCount); i++) {
    const other = `x${i}`;
    if (itemShardOf(other, shardCount) === itemShardOf(key, shardCount)) lines.push(itemEntryLine(other, { page: i % options.pages, offset: 1, length: 90 }));
  }
  const shardText = lines.join("");
  const shards = Array.from({ length: shardCount }, (_, i) => sha(`${dataset} shard ${i}`));
  shards[itemShardOf(key, shardCount)] = sha(shardText);
  await store.put(itemShardObjectKey(dataset, sha(shardText)), shardText);

  const rowsPerPage = Math.floor(options.rows / options.pages);
  let last: LongHistory | undefined;
  for (let v = 0; v < options.versions; v++) {
    const generatedAt = new Date(Date.UTC(2026, 10, 1) + v * 60_000);
    const hash = sha(`${dataset} body ${v}`);
    const real = (i: number) => i === options.page - 1;
    const pages = Array.from({ length: options.pages }, (_, i) => ({
      first_row: i * rowsPerPage,
      rows: real(i) ? records.length : rowsPerPage,
      bytes: real(i) ? Buffer.byteLength(options.pageText) : 4 * 1024 * 1024,
      sha256: real(i) ? pageSha : sha(`${dataset} page ${i} of ${i % 97 === 0 ? v : 0}`),
    }));
    const index: VersionIndex = {
      schema: INDEX_SCHEMA_VERSION,
      dataset,
      version: makeVersionId(generatedAt, hash),
      hash,
      generated_at: generatedAt.toISOString(),
      rows: options.rows,
      bytes: options.pages * 4 * 1024 * 1024,
      columns: Object.keys(records[0]!).map((name) => ({ name, type: "String", nullable: false })),
      key: options.keyName,
      layout: "content",
      pages,
      items: { kind: "index", shards, base_map: pages.map((_, i) => i), delta: [] },
      formats: {},
      previous: last?.version ?? null,
      key_changes: null,
    };
    await writeIndex(store, index);
    await commitVersion(store, dataset, index, { now: generatedAt, retain: 100, force: true });
    last = { page: options.page, key, hash, version: index.version };
  }
  return last!;
}
