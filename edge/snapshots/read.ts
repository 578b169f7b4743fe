/**
 * The read path: KV hot copies first, R2 (the source of truth) on a miss. KV is eventually
 * consistent (https://developers.cloudflare.com/kv/concepts/how-kv-works/), so nothing here trusts
 * KV alone for a decision that matters: a version missing from the KV manifest is looked up in the
 * R2 manifest before the answer is "not found". Bodies are streamed, never buffered or parsed.
 */
import {
  bodyKvKey,
  bodyObjectKey,
  findVersion,
  KV_VALUE_LIMIT_BYTES,
  manifestKvKey,
  manifestObjectKey,
  parseManifest,
  shardKvKey,
  shardObjectKey,
  type SnapshotManifest,
  type VersionInfo,
} from "../../contract/index.ts";

/** Where a value came from; tests and logs use it to see which tier answered. */
export type ReadSource = "kv" | "r2";

export interface ManifestRead {
  manifest: SnapshotManifest;
  source: ReadSource;
}

/** Reads a dataset's manifest from R2 only, or null if the dataset has none. */
export async function readManifestFromR2(env: Env, dataset: string): Promise<SnapshotManifest | null> {
  const object = await env.SNAPSHOTS.get(manifestObjectKey(dataset));
  if (object === null) return null;
  return parseManifest(await object.text());
}

/** Reads a dataset's manifest: the KV hot copy, else R2. Null when the dataset does not exist. */
export async function readManifest(env: Env, dataset: string): Promise<ManifestRead | null> {
  const cached = await env.SNAPSHOT_KV.get(manifestKvKey(dataset), "text");
  if (cached !== null) {
    try {
      return { manifest: parseManifest(cached), source: "kv" };
    } catch (error) {
      // A corrupt hot copy must not take the dataset down: fall through to R2, reconcile rewrites it.
      console.warn(JSON.stringify({ level: "warn", msg: "invalid KV manifest", dataset, error: String(error) }));
    }
  }
  const manifest = await readManifestFromR2(env, dataset);
  return manifest === null ? null : { manifest, source: "r2" };
}

/**
 * Finds a version's info, consulting R2 when the KV manifest does not (yet) list it, since a
 * version published seconds ago may be missing from a stale KV copy.
 */
export async function resolveVersion(env: Env, dataset: string, version: string): Promise<VersionInfo | null> {
  const read = await readManifest(env, dataset);
  if (read === null) return null;
  const info = findVersion(read.manifest, version);
  if (info !== undefined || read.source === "r2") return info ?? null;
  const fresh = await readManifestFromR2(env, dataset);
  return fresh === null ? null : (findVersion(fresh, version) ?? null);
}

export interface BodyRead {
  body: ReadableStream;
  source: ReadSource;
}

/** Opens a version's body as a stream: the KV copy when the body fits in KV, else the R2 object. */
export async function openBody(env: Env, dataset: string, info: VersionInfo): Promise<BodyRead | null> {
  if (info.bytes <= KV_VALUE_LIMIT_BYTES) {
    const cached = await env.SNAPSHOT_KV.get(bodyKvKey(dataset, info.version), "stream");
    if (cached !== null) return { body: cached, source: "kv" };
  }
  const object = await env.SNAPSHOTS.get(bodyObjectKey(dataset, info.version));
  return object === null ? null : { body: object.body, source: "r2" };
}

/**
 * Reads one item shard (a JSON object from key to record) as text. Shards are bounded in size by
 * the publisher (contract/shards.ts), so reading one into memory is bounded too.
 */
export async function readShard(env: Env, dataset: string, version: string, shard: number): Promise<string | null> {
  const cached = await env.SNAPSHOT_KV.get(shardKvKey(dataset, version, shard), "text");
  if (cached !== null) return cached;
  const object = await env.SNAPSHOTS.get(shardObjectKey(dataset, version, shard));
  return object === null ? null : object.text();
}
