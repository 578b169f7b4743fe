/**
 * Publishes a version of plain records into any store exactly the way the compute side does:
 * pages and item shards first, then the manifest by the shared protocol's compare-and-swap
 * (contract/protocol/). For tests and benchmarks that need published data without polars.
 * Runtime-neutral: used inside workerd (edge tests) and in Node (benchmarks).
 */
import { formatObjectKey, pageObjectKey, shardObjectKey } from "../../contract/keys.ts";
import { makeVersionId, type Column, type Format, type FormatObject, type SnapshotManifest, type VersionInfo } from "../../contract/index.ts";
import { planPages } from "../../contract/pages.ts";
import { commitVersion } from "../../contract/protocol/manifests.ts";
import { shardCountFor, shardLine, shardOf } from "../../contract/shards.ts";
import { sha256Of, type ObjectStore } from "../../contract/storage.ts";

export interface FakePublishOptions {
  dataset: string;
  records: Record<string, unknown>[];
  /** Key column for a keyed dataset. */
  key?: string;
  /** Overrides the shard count (default: shardCountFor(bytes)). */
  shards?: number;
  /** Page target in bytes (default: the real one, so small fixtures have one page). */
  pageBytes?: number;
  generatedAt?: Date;
  /** Publish even content equal to the current version. */
  force?: boolean;
  /** The dataset's freshness budget, recorded in the manifest as a run records it. */
  maxAgeSeconds?: number;
  /** The version's columns (default: every key of the first record, as a nullable String). */
  columns?: Column[];
  /** Objects of other formats to store beside the pages and name in the version's `formats`. */
  formats?: Partial<Record<Format, string | Uint8Array>>;
  /** The dataset's description, recorded in the manifest. */
  description?: string;
}

export interface FakePublish {
  info: VersionInfo;
  manifest: SnapshotManifest;
  body: string;
  /** Each page's text, in order. */
  pages: string[];
}

export const sha256Hex = sha256Of;

let clock = Date.UTC(2026, 10, 23, 12, 0, 0);

export async function publishRecords(store: ObjectStore, options: FakePublishOptions): Promise<FakePublish> {
  const generatedAt = options.generatedAt ?? new Date((clock += 1000));
  const rows = options.records.map((record) => JSON.stringify(record));
  const body = `[${rows.join(",")}]`;
  const hash = await sha256Of(body);
  const version = makeVersionId(generatedAt, hash);
  const pages = planPages(rows, options.pageBytes);
  for (const [index, page] of pages.entries()) {
    await store.put(pageObjectKey(options.dataset, version, index + 1), page.text, { contentType: "application/json" });
  }
  const bytes = new TextEncoder().encode(body).byteLength;
  const shards = options.key === undefined ? 0 : (options.shards ?? shardCountFor(bytes));
  if (options.key !== undefined) {
    const groups: string[] = Array.from({ length: shards }, () => "");
    options.records.forEach((record, index) => {
      const key = String(record[options.key!]);
      groups[shardOf(key, shards)] += shardLine(key, rows[index]!);
    });
    await Promise.all(groups.map((group, i) => store.put(shardObjectKey(options.dataset, version, i), group)));
  }
  const formats: Partial<Record<Format, FormatObject>> = {};
  for (const [format, content] of Object.entries(options.formats ?? {}) as [Format, string | Uint8Array][]) {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    await store.put(formatObjectKey(options.dataset, version, format), bytes);
    formats[format] = { bytes: bytes.byteLength, sha256: await sha256Of(bytes) };
  }
  const info: VersionInfo = {
    version,
    hash,
    generated_at: generatedAt.toISOString(),
    rows: options.records.length,
    bytes,
    columns: options.columns ?? Object.keys(options.records[0] ?? {}).map((name) => ({ name, type: "String", nullable: true })),
    key: options.key ?? null,
    shards,
    pages: await Promise.all(
      pages.map(async ({ span, text }) => ({ first_row: span.firstRow, rows: span.rows, bytes: span.bytes, sha256: await sha256Of(text) })),
    ),
    formats,
  };
  const facts = { ...(options.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: options.maxAgeSeconds }), ...(options.description === undefined ? {} : { description: options.description }) };
  const committed = await commitVersion(store, options.dataset, info, { force: options.force ?? true, now: generatedAt, facts });
  return { info, manifest: committed.manifest, body, pages: pages.map((page) => page.text) };
}

