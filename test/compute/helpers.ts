/** Shared set-up for compute tests: temp dirs, a real local store, a log sink, a run config. */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { bodySegments, findItemEntry, itemShardOf, scaledPageLimits, type Column, type PageLimits } from "../../contract/index.ts";
import type { Config } from "../../compute/config.ts";
import type { DataFrame, LazyDataFrame } from "../../compute/dataset/define.ts";
import { planVersion, readPage, type VersionPlan } from "../../compute/publish/plan.ts";
import type { Logger } from "../../compute/run/logger.ts";
import { createLogger } from "../../compute/run/logger.ts";
import { inspectFrame, normalizeFrame, writeRowFiles, type FrameFacts } from "../../compute/run/serialize.ts";
import { openStore, type ObjectStore } from "../../compute/storage/index.ts";
import { readHead, requireIndex } from "../../contract/protocol/manifests.ts";
import type { DatasetHead, VersionIndex } from "../../contract/index.ts";

export const FIXTURE_DATASETS = "test/compute/fixtures/datasets.ts";

/** Makes a temp dir and returns it with its remover. */
export async function makeTempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `edgesnap-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Opens the real local store (workerd via wrangler's getPlatformProxy) on a private persist dir. */
export function openLocalTestStore(persistTo: string): Promise<ObjectStore> {
  return openStore({ store: { kind: "local", persistTo, wranglerConfig: "wrangler.toml" }, edgeUrl: "http://127.0.0.1:9" });
}

/** A logger that keeps its records for assertions instead of writing to stderr. */
export function memoryLogger(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  return { log: createLogger({ level: "debug", write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) }), records };
}

/** A run config on a private persist dir and temp root, with an edge URL nobody listens on. */
export function runConfig(persistTo: string, tempRoot: string, overrides: Partial<Config> = {}): Config {
  return {
    store: { kind: "local", persistTo, wranglerConfig: "wrangler.toml" },
    edgeUrl: "http://127.0.0.1:9",
    token: "test-token-0123456789abcdef0123456789abcdef",
    datasets: FIXTURE_DATASETS,
    tempRoot,
    metricsPort: 0,
    concurrency: 1,
    timezone: "UTC",
    ...overrides,
  };
}

/** Lists every object key under a prefix. */
export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { cursor });
    keys.push(...page.objects.map((object) => object.key));
    cursor = page.cursor;
  } while (cursor);
  return keys.sort();
}

/** What the publisher makes of a frame, read back: the body (joined from its pages), columns, plan. */
export interface SerializedFrame {
  body: string;
  pages: string[];
  columns: Column[];
  facts: FrameFacts;
  plan: VersionPlan;
  /** The item index shards' text, for a keyed frame. */
  shards: string[];
  /** The record of `key`, read as the edge reads it: its index entry, then those bytes of its page; null when absent. */
  item(key: string): string | null;
}

/**
 * Runs the real serialization path on a frame (facts, rules, polars' NDJSON writer, the page plan)
 * in a temp dir, and joins the body from the pages exactly as the edge does (bodySegments).
 */
export async function serializeFrame(
  frame: DataFrame | LazyDataFrame,
  options: { key?: string; pageBytes?: number; pageLimits?: PageLimits; /** A dir to write the row files in and keep (the plan points at them). */ keep?: string } = {},
): Promise<SerializedFrame> {
  const temp = options.keep ? { dir: options.keep, remove: async () => {} } : await makeTempDir("serialize");
  if (options.keep) await mkdir(options.keep, { recursive: true });
  try {
    const lazy = typeof (frame as DataFrame).toRecords === "function" ? (frame as DataFrame).lazy() : (frame as LazyDataFrame);
    const facts = await inspectFrame(lazy, options.key ?? null);
    const rows = path.join(temp.dir, "rows.ndjson");
    const keys = path.join(temp.dir, "keys.ndjson");
    await writeRowFiles(normalizeFrame(lazy, facts), { rows, ...(options.key ? { keys: { file: keys, column: options.key } } : {}) });
    const plan = await planVersion({
      rowsFile: rows,
      ...(options.pageLimits ? { pageLimits: options.pageLimits } : options.pageBytes === undefined ? {} : { pageLimits: scaledPageLimits(options.pageBytes) }),
      ...(options.key ? { keysFile: keys, keyName: options.key, shardDir: path.join(temp.dir, "shards") } : {}),
    });
    const pages = await Promise.all(plan.pages.map(async (page) => (await readPage(rows, page)).toString("utf8")));
    const body = bodySegments(plan.pages)
      .map((segment) => segment.before + Buffer.from(pages[segment.page]!).subarray(segment.offset, segment.offset + segment.length).toString("utf8"))
      .join("");
    const shards = await Promise.all(plan.shardFiles.map((file) => readFile(file, "utf8")));
    const item = (key: string) => {
      if (shards.length === 0) return null;
      const at = findItemEntry(shards[itemShardOf(key, shards.length)]!, key);
      return at === null ? null : Buffer.from(pages[at.page]!).subarray(at.offset, at.offset + at.length).toString("utf8");
    };
    return { body, pages, columns: facts.columns, facts, plan, shards, item };
  } finally {
    await temp.remove();
  }
}

/** A dataset as published: its head (with the etag to swap against) and its current version's index. */
export async function readPublished(store: ObjectStore, dataset: string): Promise<{ head: DatasetHead; etag: string; current: VersionIndex | null } | null> {
  const read = await readHead(store, dataset);
  if (read === null) return null;
  const { head } = read.value;
  return { head, etag: read.etag, current: head.current === null ? null : await requireIndex(store, dataset, head.current, read.value) };
}
