/**
 * Operator changes to a dataset's manifest: roll back (or forward), pin, unpin and prune. Every
 * change is a compare-and-swap on the R2 manifest's etag, the same protocol the publisher uses, so
 * an operator and a run publishing at the same moment never overwrite each other. After a change
 * the KV copies, the catalog and this location's cached current URL are refreshed exactly as the
 * publish notice does.
 */
import { HTTPException } from "hono/http-exception";
import {
  bodyKvKey,
  DATASETS_PREFIX,
  DEFAULT_RETAINED_VERSIONS,
  findVersion,
  manifestObjectKey,
  parseManifest,
  shardKvKey,
  versionPrefix,
  type ManifestChange,
  type PruneResult,
  type SnapshotManifest,
} from "../../contract/index.ts";
import { listDatasetNames, readAllManifestsFromR2 } from "../snapshots/catalog.ts";
import { purgeCurrent, versionCacheKey } from "../snapshots/edge-cache.ts";
import { refreshCatalog, refreshDataset } from "../snapshots/reconcile.ts";

const CAS_ATTEMPTS = 5;

/**
 * Version folders not named by the manifest are only deleted once they are this old: a publisher
 * uploads a version's objects before it swaps the manifest, and those must not vanish under it.
 */
export const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

/**
 * Rewrites a dataset's manifest by compare-and-swap. `change` returns the new manifest, or null
 * for "nothing to change".
 * @throws {HTTPException} 404 when the dataset has no manifest; 409 after repeated lost swaps.
 */
export async function changeManifest(
  env: Env,
  dataset: string,
  change: (manifest: SnapshotManifest) => SnapshotManifest | null,
): Promise<{ before: SnapshotManifest; after: SnapshotManifest; changed: boolean }> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const object = await env.SNAPSHOTS.get(manifestObjectKey(dataset));
    if (object === null) throw new HTTPException(404, { message: `unknown dataset ${dataset}` });
    const before = parseManifest(await object.text());
    const after = change(before);
    if (after === null) return { before, after: before, changed: false };
    const written = await env.SNAPSHOTS.put(manifestObjectKey(dataset), JSON.stringify(after), {
      httpMetadata: { contentType: "application/json" },
      onlyIf: { etagMatches: object.etag },
    });
    if (written !== null) return { before, after, changed: true };
  }
  throw new HTTPException(409, { message: `the manifest of ${dataset} kept changing concurrently; try again` });
}

/** What the publish notice does after a manifest write: KV copies, catalog, cached current URL. */
export async function refreshAfterManifestChange(env: Env, dataset: string): Promise<void> {
  await refreshDataset(env, dataset, { force: true });
  await refreshCatalog(env, await readAllManifestsFromR2(env));
  await purgeCurrent(dataset);
}

function describeChange(dataset: string, before: SnapshotManifest, after: SnapshotManifest): ManifestChange {
  return { dataset, current: after.current, previous: before.current, pinned: after.pinned };
}

/**
 * Makes a retained version current (older or newer than the current one). Pins the dataset unless
 * `pin` is false: otherwise the next scheduled build of the same content would publish it again
 * and undo the rollback.
 * @throws {HTTPException} 404 for an unknown dataset or a version the manifest does not retain.
 */
export async function rollbackDataset(env: Env, dataset: string, version: string, pin = true, now = new Date()): Promise<ManifestChange> {
  const { before, after, changed } = await changeManifest(env, dataset, (manifest) => {
    if (findVersion(manifest, version) === undefined) {
      throw new HTTPException(404, { message: `version ${version} of ${dataset} is not retained` });
    }
    if (manifest.current === version && manifest.pinned === pin) return null;
    return { ...manifest, current: version, pinned: pin, updated_at: now.toISOString() };
  });
  if (changed) await refreshAfterManifestChange(env, dataset);
  return describeChange(dataset, before, after);
}

/** Sets or clears `pinned`. While pinned, runs still build and record but do not replace `current`. */
export async function setPinned(env: Env, dataset: string, pinned: boolean, now = new Date()): Promise<ManifestChange> {
  const { before, after, changed } = await changeManifest(env, dataset, (manifest) =>
    manifest.pinned === pinned ? null : { ...manifest, pinned, updated_at: now.toISOString() },
  );
  if (changed) await refreshAfterManifestChange(env, dataset);
  return describeChange(dataset, before, after);
}

/** The versions a prune keeps: the newest `keep`, plus the current one wherever it is. Pure. */
export function versionsToKeep(manifest: SnapshotManifest, keep: number): Set<string> {
  const kept = new Set(manifest.versions.slice(0, keep).map((v) => v.version));
  if (manifest.current !== null) kept.add(manifest.current);
  return kept;
}

/** The build time encoded in a version id (`20261123T161500123Z-...`), or null. */
export function versionTime(version: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-/.exec(version);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7]));
}

async function listKeys(env: Env, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.SNAPSHOTS.list({ prefix, cursor });
    for (const object of page.objects) keys.push(object.key);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return keys;
}

async function listVersionFolders(env: Env, dataset: string): Promise<string[]> {
  const prefix = `${DATASETS_PREFIX}${dataset}/versions/`;
  const versions: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.SNAPSHOTS.list({ prefix, delimiter: "/", cursor });
    for (const p of page.delimitedPrefixes) versions.push(p.slice(prefix.length).replace(/\/$/, ""));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return versions;
}

/**
 * Drops versions beyond the newest `keep` from every manifest (never the current one), deletes
 * their R2 objects and KV copies, and deletes version folders no manifest names that are older
 * than ORPHAN_MIN_AGE_MS (the publisher trims its history without deleting objects). A dry run
 * only reports what would go.
 */
export async function pruneVersions(env: Env, options: { keep?: number; dryRun?: boolean; now?: Date } = {}): Promise<PruneResult> {
  const keep = options.keep ?? DEFAULT_RETAINED_VERSIONS;
  const dryRun = options.dryRun ?? false;
  const now = options.now ?? new Date();
  const result: PruneResult = { dry_run: dryRun, keep, datasets: [] };
  for (const dataset of await listDatasetNames(env)) {
    let manifest: SnapshotManifest | null = null;
    const object = await env.SNAPSHOTS.get(manifestObjectKey(dataset));
    if (object !== null) manifest = parseManifest(await object.text());
    if (manifest === null) continue;
    let kept = versionsToKeep(manifest, keep);
    let dropped = manifest.versions.filter((v) => !kept.has(v.version));
    if (!dryRun && dropped.length > 0) {
      const swap = await changeManifest(env, dataset, (m) => {
        const keepNow = versionsToKeep(m, keep);
        if (m.versions.every((v) => keepNow.has(v.version))) return null;
        return { ...m, versions: m.versions.filter((v) => keepNow.has(v.version)), updated_at: now.toISOString() };
      });
      manifest = swap.after;
      dropped = swap.before.versions.filter((v) => !versionsToKeep(swap.after, keep).has(v.version));
      kept = new Set(swap.after.versions.map((v) => v.version));
    }
    const orphans = (await listVersionFolders(env, dataset)).filter((version) => {
      if (kept.has(version) || dropped.some((d) => d.version === version)) return false;
      const time = versionTime(version);
      return time !== null && now.getTime() - time >= ORPHAN_MIN_AGE_MS;
    });
    const gone = [...dropped.map((v) => v.version), ...orphans];
    if (gone.length === 0) continue;
    let objects = 0;
    for (const version of gone) {
      const keys = await listKeys(env, versionPrefix(dataset, version));
      objects += keys.length;
      if (!dryRun && keys.length > 0) {
        for (let i = 0; i < keys.length; i += 1000) await env.SNAPSHOTS.delete(keys.slice(i, i + 1000));
      }
    }
    if (!dryRun) {
      const kvKeys = dropped.flatMap((v) => [bodyKvKey(dataset, v.version), ...Array.from({ length: v.shards }, (_, s) => shardKvKey(dataset, v.version, s))]);
      await Promise.all(kvKeys.map((key) => env.SNAPSHOT_KV.delete(key)));
      // Versioned URLs are cached for a year; drop this location's copies of the deleted bodies.
      // Other locations (and cached single items) keep theirs until evicted: the Cache API is per
      // location. https://developers.cloudflare.com/workers/runtime-apis/cache/
      await Promise.all(gone.map((version) => caches.default.delete(versionCacheKey(dataset, version))));
      if (dropped.length > 0) await refreshAfterManifestChange(env, dataset);
    }
    result.datasets.push({ dataset, versions: gone, objects });
  }
  return result;
}
