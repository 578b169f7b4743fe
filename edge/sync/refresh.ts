/**
 * Keeping the edge in step with R2 after a head changed. One step serves the publish notice,
 * rollback, pin, prune and the cron's reconcile: copy the current version's immutable objects into
 * KV (once per version: its index, and for versions up to HOT_COPY_VERSION_LIMIT_BYTES its pages
 * and item index shards, skipping those already copied for an earlier version, since pages are
 * shared), rebuild the stored catalog and purge the cached current URLs (Workers Cache by tag, or
 * locally the Cache API). A lost notice therefore heals at the next cron tick, and a missed purge
 * within FRESHNESS_SECONDS.
 *
 * Hot copies expire after HOT_COPY_TTL_SECONDS and their "done" marker a day earlier, so the cron
 * re-copies a current version whose marker expired before its copies do. Copies that no retained
 * version references any more are swept by the cron (`sweepHotCopies`), one dataset a minute.
 */
import { datasetPrefix, hotCopiesDoneKey, itemShardObjectKey, versionIndexKey, DATASETS_PREFIX } from "../../contract/keys.ts";
import { currentSummary, type DatasetHead, type HeadState } from "../../contract/head.ts";
import { refreshCatalog } from "../../contract/protocol/catalog.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { readHead, readIndex } from "../../contract/protocol/manifests.ts";
import { listFolders, type ObjectStore } from "../../contract/storage.ts";
import { objectKeysOf, pageKeyOf, type VersionIndex } from "../../contract/version-index.ts";
import type { EdgeStorage } from "../env.ts";
import { loadIndex } from "../read/versions.ts";
import { CATALOG_TAG, currentTag, purgeCurrent, versionTag } from "../read/cache.ts";
import { HOT_COPY_LIMIT_BYTES, HOT_COPY_MARKER_TTL_SECONDS } from "../storage/kv.ts";
import { checkObject } from "../read/bodies.ts";
import type { Expected } from "../http/range.ts";
import { purgeTags, type TagPurger } from "./purge.ts";
import { log, errorFields } from "../log.ts";

/** How many copies are made at once (Workers allow 6 simultaneous open connections). */
const COPY_CONCURRENCY = 6;

/**
 * Versions up to this size get hot copies of their pages and item shards; larger ones are read from
 * R2 (and the edge cache). KV is for the small, hot objects most reads hit; copying hundreds of MiB
 * per publish would cost a KV write per page for little gain.
 */
export const HOT_COPY_VERSION_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * The immutable objects of a version worth a hot copy: its index, and for a version up to
 * HOT_COPY_VERSION_LIMIT_BYTES its pages that fit in a KV value and its item index shards.
 */
export function hotCopyKeys(index: VersionIndex): string[] {
  const keys = [versionIndexKey(index.dataset, index.version)];
  if (index.bytes > HOT_COPY_VERSION_LIMIT_BYTES) return keys;
  index.pages.forEach((page, n) => {
    if (page.bytes <= HOT_COPY_LIMIT_BYTES) keys.push(pageKeyOf(index, n));
  });
  if (index.items?.kind === "index") {
    for (const sha of [...index.items.shards, ...index.items.delta]) keys.push(itemShardObjectKey(index.dataset, sha));
  } else if (index.items?.kind === "record-shards") {
    keys.push(...objectKeysOf(index).filter((key) => key.includes("/items/")));
  }
  return [...new Set(keys)];
}

/** What the index says of the objects a hot copy is made of: size and sha256 (item shards: sha256 in the key). */
function expectedObjects(index: VersionIndex): Map<string, Expected> {
  const expected = new Map<string, Expected>();
  index.pages.forEach((page, n) => expected.set(pageKeyOf(index, n), { size: page.bytes, sha256: page.sha256 }));
  return expected;
}

/**
 * Copies a version's hot objects from R2 into KV unless its marker says they are there. Objects KV
 * lists already (copied for another version) are not copied again if they outlive the new marker:
 * when the marker expires the cron copies again, and every copy then gets a fresh expiry.
 * @returns whether anything was copied
 * @throws when an object the index names is missing from R2
 */
export async function ensureHotCopies({ store, hot }: EdgeStorage, index: VersionIndex): Promise<boolean> {
  const marker = hotCopiesDoneKey(index.dataset, index.version);
  if ((await hot.text(marker)) !== null) return false;
  const outlivesMarker = Date.now() + HOT_COPY_MARKER_TTL_SECONDS * 1000;
  const present = new Set((await hot.list(datasetPrefix(index.dataset))).filter((copy) => (copy.expiresAt ?? Infinity) > outlivesMarker).map((copy) => copy.key));
  const keys = hotCopyKeys(index).filter((key) => !present.has(key));
  const expected = expectedObjects(index);
  for (let start = 0; start < keys.length; start += COPY_CONCURRENCY) {
    await Promise.all(
      keys.slice(start, start + COPY_CONCURRENCY).map(async (key) => {
        const object = await store.get(key);
        if (object === null) throw new Error(`${key} is named by the index of ${index.dataset}@${index.version} but missing from R2`);
        // Reads trust a hot copy as they would the object: only a checked object is copied.
        checkObject(key, object, expected.get(key));
        await hot.put(key, object.body);
      }),
    );
  }
  await hot.put(marker, new Date().toISOString(), "marker");
  return true;
}

/**
 * Deletes the KV copies of a dataset that no retained version references (pages of versions the
 * head dropped, their markers). Never deletes on partial knowledge: an unreadable index stops it.
 * @returns how many copies were deleted
 */
export async function sweepHotCopies(storage: EdgeStorage, state: HeadState): Promise<number> {
  const keep = new Set<string>();
  for (const summary of state.head.versions) {
    const index = await loadIndex(storage, state, summary.version);
    for (const key of objectKeysOf(index)) keep.add(key);
    keep.add(hotCopiesDoneKey(index.dataset, index.version));
  }
  const stale = (await storage.hot.list(datasetPrefix(state.head.dataset))).map((copy) => copy.key).filter((key) => !keep.has(key));
  if (stale.length > 0) await storage.hot.delete(stale);
  return stale.length;
}

/** What changed in a head: `before` is null when not known (a publish notice). */
export interface HeadChange {
  before: DatasetHead | null;
  after: HeadState | null;
}

/** What the after-change step needs of the request or cron it runs in: Workers Cache, where it exists. */
export interface PurgeContext {
  cache?: TagPurger;
}

/** The tags a head change makes wrong: the dataset's current URLs, the catalog, removed versions. */
export function tagsToPurge(dataset: string, removed: readonly string[]): string[] {
  return [currentTag(dataset), CATALOG_TAG, ...removed.map((version) => versionTag(dataset, version))];
}

/**
 * Purges what a head change makes wrong: by tag through Workers Cache and its shared rate limit
 * where `ctx.cache` exists, else this location's Cache API. A purge that fails is logged (and, with
 * Workers Cache, queued for the cron) and never fails the change itself.
 */
export async function purgeAfterChange(store: ObjectStore, ctx: PurgeContext | undefined, dataset: string, removed: readonly string[]): Promise<void> {
  try {
    if (ctx?.cache !== undefined) {
      await purgeTags(store, ctx.cache, tagsToPurge(dataset, removed));
    } else {
      // The Cache API deletes by URL: a removed version's pages are named by its index, while it is stored.
      const pagesOf = async (version: string) => (await readIndex(store, dataset, version).catch(() => null))?.pages.length ?? 0;
      await purgeCurrent(dataset, await Promise.all(removed.map(async (version) => ({ version, pages: await pagesOf(version) }))));
    }
  } catch (error) {
    log.error("purge failed", { dataset, error: errorFields(error) });
  }
}

/**
 * The one step after any head change: hot copies of the current version, the markers of removed
 * versions dropped, the catalog rebuilt, the cached current URLs purged.
 * @param ctx the request's or cron's execution context (its `cache` is Workers Cache, when enabled)
 */
export async function refreshAfterManifestChange(storage: EdgeStorage, dataset: string, change: HeadChange, ctx: PurgeContext | undefined): Promise<void> {
  const after = change.after;
  const current = after === null ? undefined : currentSummary(after.head);
  if (after !== null && current !== undefined) await ensureHotCopies(storage, await loadIndex(storage, after, current.version));
  const kept = new Set(after?.head.versions.map((v) => v.version) ?? []);
  const removed = (change.before?.versions ?? []).map((v) => v.version).filter((version) => !kept.has(version));
  if (removed.length > 0) await storage.hot.delete(removed.flatMap((version) => [hotCopiesDoneKey(dataset, version), versionIndexKey(dataset, version)]));
  await refreshCatalog(storage.store);
  await purgeAfterChange(storage.store, ctx, dataset, removed);
}

export interface ReconcileReport {
  datasets: { dataset: string; copied: boolean; swept: number }[];
  errors: { dataset: string; error: string }[];
}

/**
 * The cron's reconcile: makes sure every dataset's current version has its hot copies and the
 * catalog is up to date, and sweeps one dataset's stale copies (`sweep`: which one, by the minute).
 * One dataset's failure (a junk head, a missing object) is reported and does not stop the others.
 */
export async function reconcileAll(storage: EdgeStorage, options: { sweep?: (dataset: string, position: number) => boolean } = {}): Promise<ReconcileReport> {
  const report: ReconcileReport = { datasets: [], errors: [] };
  const datasets = await listFolders(storage.store, DATASETS_PREFIX);
  const minute = Math.floor(Date.now() / 60_000);
  const sweep = options.sweep ?? ((_dataset: string, position: number) => position === minute % Math.max(1, datasets.length));
  for (const [position, dataset] of datasets.entries()) {
    try {
      const read = await readHead(storage.store, dataset);
      const current = read === null ? undefined : currentSummary(read.value.head);
      const copied = current === undefined ? false : await ensureHotCopies(storage, await loadIndex(storage, read!.value, current.version));
      const swept = read !== null && sweep(dataset, position) ? await sweepHotCopies(storage, read.value) : 0;
      report.datasets.push({ dataset, copied, swept });
    } catch (error) {
      const message = error instanceof ProtocolError ? error.message : String(error);
      report.errors.push({ dataset, error: message });
      log.error("reconcile failed", { dataset, error: message });
    }
  }
  await refreshCatalog(storage.store);
  return report;
}
