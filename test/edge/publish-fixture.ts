/**
 * Publishes a fake version into the test's R2 exactly the way the compute side does: body (with its
 * customMetadata), item shards for keyed datasets, then the manifest last. KV is left alone: tests
 * fill it through the notice or the reconcile, as production does.
 */
import {
  bodyObjectKey,
  makeVersionId,
  manifestObjectKey,
  parseManifest,
  shardCountFor,
  shardObjectKey,
  shardOf,
  withPublishedVersion,
  type SnapshotManifest,
  type VersionInfo,
} from "../../contract/index.ts";

export interface FakePublishOptions {
  dataset: string;
  records: Record<string, unknown>[];
  /** Key column for a keyed dataset. */
  key?: string;
  /** Overrides the shard count (default: shardCountFor(bytes)). */
  shards?: number;
  generatedAt?: Date;
}

export interface FakePublish {
  info: VersionInfo;
  manifest: SnapshotManifest;
  body: string;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

let clock = Date.UTC(2026, 10, 23, 12, 0, 0);

export async function publishFakeVersion(env: Env, options: FakePublishOptions): Promise<FakePublish> {
  const generatedAt = options.generatedAt ?? new Date((clock += 1000));
  const body = JSON.stringify(options.records);
  const bytes = new TextEncoder().encode(body);
  const hash = await sha256Hex(bytes);
  const version = makeVersionId(generatedAt, hash);
  const shards = options.key === undefined ? 0 : (options.shards ?? shardCountFor(bytes.byteLength));
  await env.SNAPSHOTS.put(bodyObjectKey(options.dataset, version), bytes, {
    httpMetadata: { contentType: "application/json" },
    customMetadata: { hash, generated_at: generatedAt.toISOString(), rows: String(options.records.length) },
  });
  if (options.key !== undefined) {
    const groups: Record<string, unknown>[] = Array.from({ length: shards }, () => ({}));
    for (const record of options.records) {
      const key = String(record[options.key]);
      groups[shardOf(key, shards)]![key] = record;
    }
    await Promise.all(groups.map((group, i) => env.SNAPSHOTS.put(shardObjectKey(options.dataset, version, i), JSON.stringify(group))));
  }
  const info: VersionInfo = {
    version,
    hash,
    generated_at: generatedAt.toISOString(),
    rows: options.records.length,
    bytes: bytes.byteLength,
    columns: Object.keys(options.records[0] ?? {}).map((name) => ({ name, type: "String" })),
    key: options.key ?? null,
    shards,
  };
  const previous = await env.SNAPSHOTS.get(manifestObjectKey(options.dataset));
  const manifest = withPublishedVersion(previous === null ? null : parseManifest(await previous.text()), options.dataset, info, generatedAt);
  await env.SNAPSHOTS.put(manifestObjectKey(options.dataset), JSON.stringify(manifest));
  return { info, manifest, body };
}

let counter = 0;
/** A dataset name no other test uses, so tests never see each other's R2, KV or cache entries. */
export function uniqueDataset(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Airport-like records for keyed tests. */
export function airportRecords(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    iata: `A${i.toString().padStart(3, "0")}`,
    name: `Airport ${i}`,
    flights: 1000 + i,
    mean_delay: Math.round(i * 37) / 10,
  }));
}

export const BASE = "https://edgesnap.test";
