/**
 * Publishes a version of plain records into any store the way the compute side does: the same
 * content-defined page rule (contract/pages.ts), content-addressed pages and item index shards, the
 * version's index, then the head by the shared protocol's compare-and-swap (contract/protocol/).
 * For tests and benchmarks that need published data without polars. Runtime-neutral: used inside
 * workerd (edge tests) and in Node (benchmarks). The item index is always a new base here (the
 * compute side's delta is tested against it in test/compute).
 */
import { formatObjectKey, itemShardObjectKey, pageObjectKey } from "../../contract/keys.ts";
import {
  INDEX_SCHEMA_VERSION,
  itemEntryLine,
  itemShardCountFor,
  itemShardOf,
  makeVersionId,
  type Column,
  type DatasetHead,
  type Format,
  type IndexFormat,
  type VersionIndex,
} from "../../contract/index.ts";
import { DEFAULT_PAGE_LIMITS, planPages, scaledPageLimits, type PageLimits } from "../../contract/pages.ts";
import { commitVersion, readHead, readIndex, writeIndex } from "../../contract/protocol/manifests.ts";
import { keyChangesKey } from "../../contract/keys.ts";
import { pageKeyOf } from "../../contract/version-index.ts";
import type { KeyChanges } from "../../contract/changes.ts";
import { sha256Of, type ObjectStore } from "../../contract/storage.ts";

export interface FakePublishOptions {
  dataset: string;
  records: Record<string, unknown>[];
  /** Key column for a keyed dataset. */
  key?: string;
  /** Overrides the item index's shard count (default: itemShardCountFor its size). */
  shards?: number;
  /** Page target in bytes: the page rule scaled to it (default: the real one, so small fixtures have one page). */
  pageBytes?: number;
  /** The page rule's sizes, exactly (overrides pageBytes). */
  pageLimits?: PageLimits;
  generatedAt?: Date;
  /** Publish even content equal to the current version. */
  force?: boolean;
  /** The dataset's freshness budget, recorded in the head as a run records it. */
  maxAgeSeconds?: number;
  /** The version's columns (default: every key of the first record, as a nullable String). */
  columns?: Column[];
  /** Objects of other formats to store beside the pages and name in the version's `formats`. */
  formats?: Partial<Record<Format, string | Uint8Array>>;
  /** The dataset's description, recorded in the head. */
  description?: string;
  /** Versions the head retains (default: the protocol's). */
  retain?: number;
}

export interface FakePublish {
  info: VersionIndex;
  head: DatasetHead;
  body: string;
  /** Each page's text, in order. */
  pages: string[];
}

export const sha256Hex = sha256Of;

let clock = Date.UTC(2026, 10, 23, 12, 0, 0);

/** The item index shards of records whose rows sit in `pages`, as texts in shard order. */
function itemShards(records: Record<string, unknown>[], rows: string[], pages: ReturnType<typeof planPages>, key: string, count?: number): string[] {
  const encoder = new TextEncoder();
  const lines: { key: string; line: string }[] = [];
  pages.forEach(({ span }, page) => {
    let offset = 1;
    for (let row = span.firstRow; row < span.firstRow + span.rows; row++) {
      const length = encoder.encode(rows[row]!).byteLength;
      const itemKey = String(records[row]![key]);
      lines.push({ key: itemKey, line: itemEntryLine(itemKey, { page, offset, length }) });
      offset += length + 1;
    }
  });
  const shards = count ?? itemShardCountFor(lines.reduce((sum, l) => sum + l.line.length, 0));
  const texts = Array.from({ length: shards }, () => "");
  for (const { key: itemKey, line } of lines) texts[itemShardOf(itemKey, shards)] += line;
  return texts;
}

/** The key changes against the current version, worked out from whole records (the fixture is small). */
async function keyChangesAgainst(store: ObjectStore, previous: VersionIndex, records: Record<string, unknown>[], key: string, version: string): Promise<KeyChanges> {
  const before = new Map<string, string>();
  for (const [n] of previous.pages.entries()) {
    const text = await (await store.get(pageKeyOf(previous, n)))!.text();
    for (const record of JSON.parse(text) as Record<string, unknown>[]) before.set(String(record[key]), JSON.stringify(record));
  }
  const changes: KeyChanges = { since: previous.version, version, added: [], changed: [], removed: [] };
  for (const record of records) {
    const itemKey = String(record[key]);
    const old = before.get(itemKey);
    if (old === undefined) changes.added.push(itemKey);
    else if (old !== JSON.stringify(record)) changes.changed.push(itemKey);
    before.delete(itemKey);
  }
  changes.removed.push(...before.keys());
  for (const list of [changes.added, changes.changed, changes.removed]) list.sort();
  return changes;
}

export async function publishRecords(store: ObjectStore, options: FakePublishOptions): Promise<FakePublish> {
  const generatedAt = options.generatedAt ?? new Date((clock += 1000));
  const rows = options.records.map((record) => JSON.stringify(record));
  const body = `[${rows.join(",")}]`;
  const hash = await sha256Of(body);
  const version = makeVersionId(generatedAt, hash);
  const limits = options.pageLimits ?? (options.pageBytes === undefined ? DEFAULT_PAGE_LIMITS : scaledPageLimits(options.pageBytes));
  const pages = planPages(rows, limits);
  const pageInfo = await Promise.all(pages.map(async ({ span, text }) => ({ first_row: span.firstRow, rows: span.rows, bytes: new TextEncoder().encode(text).byteLength, sha256: await sha256Of(text) })));
  // With their sha256, as the compute side writes them: the store keeps it as a checksum.
  for (const [n, page] of pages.entries()) await store.put(pageObjectKey(options.dataset, pageInfo[n]!.sha256), page.text, { contentType: "application/json", sha256: pageInfo[n]!.sha256 });
  let items: VersionIndex["items"] = null;
  if (options.key !== undefined) {
    const shards = await Promise.all(itemShards(options.records, rows, pages, options.key, options.shards).map(async (text) => ({ text, sha: await sha256Of(text) })));
    for (const shard of shards) await store.put(itemShardObjectKey(options.dataset, shard.sha), shard.text, { sha256: shard.sha });
    items = { kind: "index", shards: shards.map((s) => s.sha), base_map: pages.map((_, n) => n), delta: [] };
  }
  const formats: Partial<Record<Format, IndexFormat>> = {};
  for (const [format, content] of Object.entries(options.formats ?? {}) as [Format, string | Uint8Array][]) {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    await store.put(formatObjectKey(options.dataset, version, format), bytes);
    formats[format] = { bytes: bytes.byteLength, sha256: await sha256Of(bytes), paged: false };
  }
  const state = (await readHead(store, options.dataset))?.value ?? null;
  const previous = state?.head.current ? await readIndex(store, options.dataset, state.head.current, state) : null;
  let keyChanges: KeyChanges | null = null;
  if (options.key !== undefined && previous !== null && previous.key === options.key) {
    keyChanges = await keyChangesAgainst(store, previous, options.records, options.key, version);
    await store.put(keyChangesKey(options.dataset, version), JSON.stringify(keyChanges));
  }
  const info: VersionIndex = {
    schema: INDEX_SCHEMA_VERSION,
    dataset: options.dataset,
    version,
    hash,
    generated_at: generatedAt.toISOString(),
    rows: options.records.length,
    bytes: new TextEncoder().encode(body).byteLength,
    columns: options.columns ?? Object.keys(options.records[0] ?? {}).map((name) => ({ name, type: "String", nullable: true })),
    key: options.key ?? null,
    layout: "content",
    pages: pageInfo,
    items,
    formats,
    previous: previous?.version ?? null,
    key_changes: keyChanges === null ? null : { added: keyChanges.added.length, changed: keyChanges.changed.length, removed: keyChanges.removed.length, listed: true },
  };
  await writeIndex(store, info);
  const facts = { ...(options.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: options.maxAgeSeconds }), ...(options.description === undefined ? {} : { description: options.description }) };
  const committed = await commitVersion(store, options.dataset, info, { force: options.force ?? true, now: generatedAt, facts, retain: options.retain });
  return { info, head: committed.head, body, pages: pages.map((page) => page.text) };
}
