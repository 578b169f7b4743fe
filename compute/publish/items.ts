/**
 * The item index a keyed version publishes (contract/items.ts): either a new base (every key, the
 * shard files the plan wrote) or, when the previous version's base still covers most of the rows, a
 * delta holding only the keys of the pages that base does not cover, so a version that changed a
 * few pages uploads a few pages' worth of index. Shards are content-addressed, so an unchanged
 * shard is never uploaded twice.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { itemShardCountFor, needsNewBase } from "../../contract/items.ts";
import type { ItemIndex, VersionIndex } from "../../contract/version-index.ts";
import { EdgesnapError } from "../errors.ts";
import type { VersionPlan } from "./plan.ts";

/** An index shard to store: its file in the run's temp dir and its sha256. */
export interface ShardObject {
  sha256: string;
  file: string;
}

export interface PlannedItems {
  items: ItemIndex;
  /** The shards this version adds (the base's are reused when it is the previous one's). */
  shards: ShardObject[];
  /** Rows whose entries are in the delta (0 for a new base). */
  deltaRows: number;
}

const TAB = 0x09;
const NEWLINE = 0x0a;

function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Reads a shard file; with `check`, checks its keys are unique (the last check a decoded key gets
 * before upload: two JSON values may read as one key).
 */
export async function readShardFile(file: string, shard: number, check: boolean): Promise<Buffer> {
  const bytes = await readFile(file);
  if (!check) return bytes;
  const seen = new Set<string>();
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(NEWLINE, start);
    const key = bytes.toString("utf8", start, bytes.indexOf(TAB, start));
    if (seen.has(key)) throw new EdgesnapError("gate-rejected", `gate: the key column has duplicate item key ${JSON.stringify(key.slice(0, 80))} (shard ${shard})`);
    seen.add(key);
    start = end < 0 ? bytes.length : end + 1;
  }
  return bytes;
}

/** For each page of the new version (by ordinal), whether the previous base covers it; and the base map. */
function coverage(previous: VersionIndex, plan: VersionPlan): { baseMap: number[]; covered: boolean[] } | null {
  if (previous.items?.kind !== "index") return null;
  const ordinalOf = new Map(plan.pages.map((page, i) => [page.sha256, i]));
  const covered = plan.pages.map(() => false);
  const baseMap = previous.items.base_map.map((ordinal) => {
    if (ordinal < 0) return -1;
    const now = ordinalOf.get(previous.pages[ordinal]!.sha256);
    if (now === undefined) return -1;
    covered[now] = true;
    return now;
  });
  return { baseMap, covered };
}

/** The entry lines of `bytes` whose page (the second field) is not covered. */
function uncoveredLines(bytes: Buffer, covered: readonly boolean[]): Buffer[] {
  const lines: Buffer[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(NEWLINE, start);
    const stop = end < 0 ? bytes.length : end + 1;
    const pageStart = bytes.indexOf(TAB, start) + 1;
    const page = Number(bytes.toString("latin1", pageStart, bytes.indexOf(TAB, pageStart)));
    if (!covered[page]) lines.push(bytes.subarray(start, stop));
    start = stop;
  }
  return lines;
}

/**
 * Plans the item index of a keyed version against the version before it. Reads one shard file at a
 * time; a delta's shards are written beside the plan's.
 * @throws {EdgesnapError} "gate-rejected" for a duplicate decoded key
 */
export async function planItems(plan: VersionPlan, previous: VersionIndex | null): Promise<PlannedItems> {
  const cover = previous === null ? null : coverage(previous, plan);
  const deltaRows = cover === null ? plan.rows : plan.pages.reduce((sum, page, i) => sum + (cover.covered[i] ? 0 : page.rows), 0);
  if (cover === null || previous?.items?.kind !== "index" || needsNewBase(deltaRows, plan.rows)) {
    const shards: ShardObject[] = [];
    for (const [shard, file] of plan.shardFiles.entries()) {
      shards.push({ sha256: sha256Hex(await readShardFile(file, shard, plan.decodedKeyShards.has(shard))), file });
    }
    return { items: { kind: "index", shards: shards.map((s) => s.sha256), base_map: plan.pages.map((_, i) => i), delta: [] }, shards, deltaRows: 0 };
  }
  // Both counts are powers of two, so a key's delta shard is its full shard modulo the delta count.
  const estimate = plan.shardFiles.length === 0 ? 0 : (deltaRows / Math.max(1, plan.rows)) * plan.shardFiles.length * 1024 * 1024;
  const count = deltaRows === 0 ? 0 : Math.min(plan.shardFiles.length, itemShardCountFor(estimate));
  const delta: ShardObject[] = [];
  for (let j = 0; j < count; j++) {
    const parts: Buffer[] = [];
    for (let i = j; i < plan.shardFiles.length; i += count) {
      parts.push(...uncoveredLines(await readShardFile(plan.shardFiles[i]!, i, plan.decodedKeyShards.has(i)), cover.covered));
    }
    const bytes = Buffer.concat(parts);
    const file = path.join(path.dirname(plan.shardFiles[0]!), `delta-${j}.tsv`);
    await writeFile(file, bytes);
    delta.push({ sha256: sha256Hex(bytes), file });
  }
  return { items: { kind: "index", shards: previous.items.shards, base_map: cover.baseMap, delta: delta.map((s) => s.sha256) }, shards: delta, deltaRows };
}

/** One entry of the item index as the plan wrote it. */
export interface PlannedEntry {
  key: string;
  page: number;
  offset: number;
  length: number;
}

/** The entries whose page is in `pages` (ordinals of the plan), read one shard file at a time. */
export async function* entriesOfPages(plan: VersionPlan, pages: ReadonlySet<number>): AsyncGenerator<PlannedEntry> {
  if (pages.size === 0) return;
  for (const file of plan.shardFiles) {
    const text = (await readFile(file)).toString("utf8");
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const [key, page, offset, length] = line.split("\t");
      const ordinal = Number(page);
      if (pages.has(ordinal)) yield { key: key!, page: ordinal, offset: Number(offset), length: Number(length) };
    }
  }
}
