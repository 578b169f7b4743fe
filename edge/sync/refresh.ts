/**
 * Keeping the edge in step with R2 after a manifest changed. One step serves the publish notice,
 * rollback, pin, prune and the cron's reconcile: copy the current version's small immutable objects
 * into KV (once per version), drop the copies of versions that are gone, rebuild the stored catalog
 * and purge the cached current URLs (Workers Cache by tag, or locally the Cache API). A lost notice
 * therefore heals at the next cron tick, and a missed purge within FRESHNESS_SECONDS.
 *
 * Hot copies expire after HOT_COPY_TTL_SECONDS and their "done" marker a day earlier, so the copies
 * of versions the publisher trimmed from its history disappear by themselves, and the cron re-copies
 * a current version whose marker expired before its copies do.
 */
import { hotCopiesDoneKey, pageObjectKey, shardObjectKey, DATASETS_PREFIX } from "../../contract/keys.ts";
import { currentVersion, type SnapshotManifest, type VersionInfo } from "../../contract/manifest.ts";
import { refreshCatalog } from "../../contract/protocol/catalog.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { readManifest } from "../../contract/protocol/manifests.ts";
import { listFolders, type ObjectStore } from "../../contract/storage.ts";
import type { EdgeStorage } from "../env.ts";
import { CATALOG_TAG, currentTag, purgeCurrent, versionTag } from "../read/cache.ts";
import { HOT_COPY_LIMIT_BYTES } from "../storage/kv.ts";
import { purgeTags, type TagPurger } from "./purge.ts";

/** How many copies are made at once (Workers allow 6 simultaneous open connections). */
const COPY_CONCURRENCY = 6;

/**
 * Versions up to this size get hot copies; larger ones are read from R2 (and the edge cache). KV
 * is for the small, hot objects most reads hit; copying hundreds of MiB per publish would cost a
 * KV write per page for little gain, and would hold the publish notice for seconds.
 */
export const HOT_COPY_VERSION_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * The immutable objects of a version worth a hot copy: its pages that fit in a KV value and its
 * item shards, for a version up to HOT_COPY_VERSION_LIMIT_BYTES; none for a larger one.
 */
export function hotCopyKeys(dataset: string, info: VersionInfo): string[] {
  if (info.bytes > HOT_COPY_VERSION_LIMIT_BYTES) return [];
  const keys: string[] = [];
  info.pages.forEach((page, index) => {
    if (page.bytes <= HOT_COPY_LIMIT_BYTES) keys.push(pageObjectKey(dataset, info.version, index + 1));
  });
  for (let shard = 0; shard < info.shards; shard++) keys.push(shardObjectKey(dataset, info.version, shard));
  return keys;
}

/**
 * Copies a version's hot objects from R2 into KV unless its marker says they are there.
 * @returns whether anything was copied
 * @throws when an object the manifest names is missing from R2
 */
export async function ensureHotCopies({ store, hot }: EdgeStorage, dataset: string, info: VersionInfo): Promise<boolean> {
  const marker = hotCopiesDoneKey(dataset, info.version);
  if ((await hot.text(marker)) !== null) return false;
  const keys = hotCopyKeys(dataset, info);
  for (let start = 0; start < keys.length; start += COPY_CONCURRENCY) {
    await Promise.all(
      keys.slice(start, start + COPY_CONCURRENCY).map(async (key) => {
        const object = await store.get(key);
        if (object === null) throw new Error(`${key} is named by the manifest but missing from R2`);
        await hot.put(key, object.body);
      }),
    );
  }
  await hot.put(marker, new Date().toISOString(), "marker");
  return true;
}

/** What changed in a manifest: `before` is null when not known (a publish notice). */
export interface ManifestChange {
  before: SnapshotManifest | null;
  after: SnapshotManifest | null;
}

/** What the after-change step needs of the request or cron it runs in: Workers Cache, where it exists. */
export interface PurgeContext {
  cache?: TagPurger;
}

/** The tags a manifest change makes wrong: the dataset's current URLs, the catalog, removed versions. */
export function tagsToPurge(dataset: string, removed: readonly string[]): string[] {
  return [currentTag(dataset), CATALOG_TAG, ...removed.map((version) => versionTag(dataset, version))];
}

/**
 * Purges what a manifest change makes wrong: by tag through Workers Cache and its shared rate limit
 * where `ctx.cache` exists, else this location's Cache API. A purge that fails is logged (and, with
 * Workers Cache, queued for the cron) and never fails the change itself.
 */
export async function purgeAfterChange(store: ObjectStore, ctx: PurgeContext | undefined, dataset: string, removed: readonly VersionInfo[]): Promise<void> {
  try {
    if (ctx?.cache !== undefined) {
      await purgeTags(store, ctx.cache, tagsToPurge(dataset, removed.map((info) => info.version)));
    } else {
      await purgeCurrent(dataset, removed.map((info) => ({ version: info.version, pages: info.pages.length })));
    }
  } catch (error) {
    console.error(JSON.stringify({ level: "error", msg: "purge failed", dataset, error: error instanceof Error ? error.message : String(error) }));
  }
}

/**
 * The one step after any manifest change: hot copies of the current version, copies of removed
 * versions dropped, the catalog rebuilt, the cached current URLs purged.
 * @param ctx the request's or cron's execution context (its `cache` is Workers Cache, when enabled)
 */
export async function refreshAfterManifestChange(storage: EdgeStorage, dataset: string, change: ManifestChange, ctx: PurgeContext | undefined): Promise<void> {
  const current = change.after === null ? undefined : currentVersion(change.after);
  if (current !== undefined) await ensureHotCopies(storage, dataset, current);
  const kept = new Set(change.after?.versions.map((v) => v.version) ?? []);
  const removed = (change.before?.versions ?? []).filter((v) => !kept.has(v.version));
  if (removed.length > 0) {
    await storage.hot.delete(removed.flatMap((info) => [...hotCopyKeys(dataset, info), hotCopiesDoneKey(dataset, info.version)]));
  }
  await refreshCatalog(storage.store);
  await purgeAfterChange(storage.store, ctx, dataset, removed);
}

export interface ReconcileReport {
  datasets: { dataset: string; copied: boolean }[];
  errors: { dataset: string; error: string }[];
}

/**
 * The cron's reconcile: makes sure every dataset's current version has its hot copies and the
 * catalog is up to date. One dataset's failure (a junk manifest, a missing object) is reported and
 * does not stop the others.
 */
export async function reconcileAll(storage: EdgeStorage): Promise<ReconcileReport> {
  const report: ReconcileReport = { datasets: [], errors: [] };
  for (const dataset of await listFolders(storage.store, DATASETS_PREFIX)) {
    try {
      const read = await readManifest(storage.store, dataset);
      const current = read === null ? undefined : currentVersion(read.value);
      report.datasets.push({ dataset, copied: current === undefined ? false : await ensureHotCopies(storage, dataset, current) });
    } catch (error) {
      const message = error instanceof ProtocolError ? error.message : String(error);
      report.errors.push({ dataset, error: message });
      console.error(JSON.stringify({ level: "error", msg: "reconcile failed", dataset, error: message }));
    }
  }
  await refreshCatalog(storage.store);
  return report;
}
