/**
 * Keeps KV's hot copies in step with R2. One module serves both the publish notice (one dataset,
 * right after its manifest write) and the cron trigger (every dataset), so a lost notice heals at
 * the next cron tick. Copies are written in the publisher's order: body and shards first, the
 * manifest last, so a reader that finds a manifest in KV finds its version's copies too.
 */
import {
  bodyKvKey,
  bodyObjectKey,
  currentVersion,
  KV_VALUE_LIMIT_BYTES,
  manifestKvKey,
  manifestObjectKey,
  parseManifest,
  shardKvKey,
  shardObjectKey,
  type SnapshotManifest,
  type VersionInfo,
} from "../../contract/index.ts";
import { catalogDocument, listDatasetNames, storeCatalog } from "./catalog.ts";
import { readManifestFromR2 } from "./read.ts";

/** How many KV copies are written at once (Workers allow 6 simultaneous open connections). */
const COPY_CONCURRENCY = 6;

export type RefreshOutcome = "refreshed" | "unchanged" | "removed" | "missing";

export interface RefreshResult {
  dataset: string;
  outcome: RefreshOutcome;
  /** The R2 manifest after the refresh, null when the dataset has none. */
  manifest: SnapshotManifest | null;
}

async function runBounded(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < tasks.length) {
      const task = tasks[next++];
      if (task) await task();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/** Copies one R2 object into KV, streaming. Returns false when the R2 object does not exist. */
async function copyObject(env: Env, objectKey: string, kvKey: string): Promise<boolean> {
  const object = await env.SNAPSHOTS.get(objectKey);
  if (object === null) return false;
  await env.SNAPSHOT_KV.put(kvKey, object.body);
  return true;
}

/** Copies a version's body (when it fits in a KV value) and its item shards into KV. */
async function copyVersion(env: Env, dataset: string, info: VersionInfo): Promise<void> {
  const tasks: (() => Promise<void>)[] = [];
  if (info.bytes <= KV_VALUE_LIMIT_BYTES) {
    tasks.push(async () => {
      if (!(await copyObject(env, bodyObjectKey(dataset, info.version), bodyKvKey(dataset, info.version)))) {
        throw new Error(`body of ${dataset}@${info.version} is missing from R2`);
      }
    });
  }
  for (let shard = 0; shard < info.shards; shard++) {
    tasks.push(async () => {
      if (!(await copyObject(env, shardObjectKey(dataset, info.version, shard), shardKvKey(dataset, info.version, shard)))) {
        throw new Error(`shard ${shard} of ${dataset}@${info.version} is missing from R2`);
      }
    });
  }
  await runBounded(tasks, COPY_CONCURRENCY);
}

/** Deletes KV copies of versions that the new manifest no longer retains (best effort). */
async function dropRetiredCopies(env: Env, dataset: string, previous: SnapshotManifest | null, next: SnapshotManifest): Promise<void> {
  if (previous === null) return;
  const retained = new Set(next.versions.map((v) => v.version));
  const tasks: (() => Promise<void>)[] = [];
  for (const info of previous.versions) {
    if (retained.has(info.version)) continue;
    tasks.push(() => env.SNAPSHOT_KV.delete(bodyKvKey(dataset, info.version)));
    for (let shard = 0; shard < info.shards; shard++) {
      tasks.push(() => env.SNAPSHOT_KV.delete(shardKvKey(dataset, info.version, shard)));
    }
  }
  try {
    await runBounded(tasks, COPY_CONCURRENCY);
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", msg: "could not drop retired KV copies", dataset, error: String(error) }));
  }
}

function parseOrNull(text: string | null): SnapshotManifest | null {
  if (text === null) return null;
  try {
    return parseManifest(text);
  } catch {
    return null;
  }
}

/**
 * Brings one dataset's KV copies in line with its R2 manifest. When the KV manifest already equals
 * the R2 manifest byte for byte nothing is written (KV allows one write per second per key:
 * https://developers.cloudflare.com/kv/platform/limits/), unless `force` is set.
 * @throws {Error} when the R2 manifest is invalid or names objects that are missing.
 */
export async function refreshDataset(env: Env, dataset: string, options: { force?: boolean } = {}): Promise<RefreshResult> {
  const kvKey = manifestKvKey(dataset);
  const object = await env.SNAPSHOTS.get(manifestObjectKey(dataset));
  const kvText = await env.SNAPSHOT_KV.get(kvKey, "text");
  if (object === null) {
    if (kvText === null) return { dataset, outcome: "missing", manifest: null };
    await env.SNAPSHOT_KV.delete(kvKey);
    return { dataset, outcome: "removed", manifest: null };
  }
  const text = await object.text();
  const manifest = parseManifest(text);
  if (kvText === text && options.force !== true) return { dataset, outcome: "unchanged", manifest };
  const info = currentVersion(manifest);
  if (info !== undefined) await copyVersion(env, dataset, info);
  await env.SNAPSHOT_KV.put(kvKey, text);
  await dropRetiredCopies(env, dataset, parseOrNull(kvText), manifest);
  return { dataset, outcome: "refreshed", manifest };
}

/** Rebuilds the catalog from the given manifests and stores it in KV if it changed. */
export async function refreshCatalog(env: Env, manifests: readonly SnapshotManifest[]): Promise<void> {
  await storeCatalog(env, await catalogDocument(manifests));
}

export interface ReconcileReport {
  datasets: RefreshResult[];
  errors: { dataset: string; error: string }[];
}

/**
 * Reconciles every dataset in R2 with KV, then the catalog. One dataset's failure is logged and
 * does not stop the others; a dataset whose copies failed stays in the catalog if its R2 manifest
 * is valid, since reads fall back to R2 anyway.
 */
export async function reconcileAll(env: Env): Promise<ReconcileReport> {
  const report: ReconcileReport = { datasets: [], errors: [] };
  const manifests: SnapshotManifest[] = [];
  const names = await listDatasetNames(env);
  for (const dataset of names) {
    try {
      const result = await refreshDataset(env, dataset);
      report.datasets.push(result);
      if (result.manifest !== null) manifests.push(result.manifest);
    } catch (error) {
      report.errors.push({ dataset, error: String(error) });
      console.error(JSON.stringify({ level: "error", msg: "reconcile failed", dataset, error: String(error) }));
      const manifest = await readManifestFromR2(env, dataset).catch(() => null);
      if (manifest !== null) manifests.push(manifest);
    }
  }
  await refreshCatalog(env, manifests);
  return report;
}
