/**
 * The manifest protocol, written once for both sides: publishing a version (its objects are
 * uploaded first; the manifest is written last, by compare-and-swap), confirming unchanged content,
 * rolling back or forward, pinning, and pruning old versions. Every change goes through
 * `swapObject`, so a publisher and an operator changing a manifest at the same moment never
 * overwrite each other.
 */
import { manifestObjectKey, versionPrefix, versionsPrefix } from "../keys.ts";
import {
  currentVersion,
  DEFAULT_RETAINED_VERSIONS,
  findVersion,
  parseManifest,
  withPublishedVersion,
  type DatasetFacts,
  type SnapshotManifest,
  type VersionInfo,
} from "../manifest.ts";
import { listFolders, listKeys, type ObjectStore } from "../storage.ts";
import { readVersioned, swapObject, type Versioned } from "./cas.ts";
import { ProtocolError } from "./errors.ts";

/**
 * Reads a dataset's manifest with its etag.
 * @returns null when the dataset was never published
 * @throws {ProtocolError} "corrupt" when the manifest exists but is not valid
 */
export function readManifest(store: ObjectStore, dataset: string): Promise<Versioned<SnapshotManifest> | null> {
  return readVersioned(store, manifestObjectKey(dataset), parseManifest);
}

/**
 * The version whose content equals `hash` and that a new publish would not change: the current
 * version, or while pinned also the newest built one (publishing it again would only duplicate it).
 */
export function matchingVersion(manifest: SnapshotManifest | null, hash: string): VersionInfo | undefined {
  if (!manifest) return undefined;
  const current = currentVersion(manifest);
  if (current?.hash === hash) return current;
  const newest = manifest.versions[0];
  if (manifest.pinned && newest?.hash === hash) return newest;
  return undefined;
}

export interface CommitOptions {
  /** Publish even when the content equals the current version (an operator's forced rebuild). */
  force?: boolean;
  facts?: DatasetFacts;
  retain?: number;
  now?: Date;
  /** Lost swaps tolerated before a "conflict". Default SWAP_ATTEMPTS. */
  attempts?: number;
  /** Called after each lost swap (for logs). */
  onLostSwap?: (attempt: number) => void;
  /** The manifest as the caller read it before uploading (saves a read when it is still current). */
  manifest?: Versioned<SnapshotManifest> | null;
}

export type CommitResult =
  | { outcome: "ok"; info: VersionInfo; manifest: SnapshotManifest }
  | { outcome: "unchanged"; info: VersionInfo; manifest: SnapshotManifest };

/**
 * Makes an uploaded version current (the last step of a publish). When, by the time of the swap,
 * the manifest already serves the same content (a concurrent publisher won with it), nothing is
 * published: the result is "unchanged" with that version, and its `checked_at` is refreshed.
 * @throws {ProtocolError} "conflict" after repeated lost swaps; "corrupt" for a junk manifest
 */
export async function commitVersion(store: ObjectStore, dataset: string, info: VersionInfo, options: CommitOptions = {}): Promise<CommitResult> {
  const now = options.now ?? new Date();
  let matched: VersionInfo | undefined;
  const swap = await swapObject(store, manifestObjectKey(dataset), {
    parse: parseManifest,
    what: `the manifest of ${dataset}`,
    attempts: options.attempts,
    onLostSwap: options.onLostSwap,
    initial: options.manifest,
    change(manifest) {
      matched = options.force ? undefined : matchingVersion(manifest, info.hash);
      if (matched && manifest) return confirmed(manifest, now, options.facts);
      return withPublishedVersion(manifest, dataset, info, now, options.facts, options.retain ?? DEFAULT_RETAINED_VERSIONS);
    },
  });
  const manifest = swap.after!;
  return matched ? { outcome: "unchanged", info: matched, manifest } : { outcome: "ok", info, manifest };
}

function confirmed(manifest: SnapshotManifest, now: Date, facts: DatasetFacts = {}): SnapshotManifest {
  return {
    ...manifest,
    description: facts.description ?? manifest.description,
    max_age_seconds: facts.maxAgeSeconds === undefined ? manifest.max_age_seconds : facts.maxAgeSeconds,
    checked_at: now.toISOString(),
  };
}

/**
 * Records that a run built exactly the content already served: refreshes `checked_at` (what
 * freshness is measured from) without publishing anything.
 * @returns the version that matched, or undefined when the manifest no longer serves `hash` (a
 *   concurrent publish changed it; the caller should publish after all)
 */
export async function confirmUnchanged(store: ObjectStore, dataset: string, hash: string, options: { facts?: DatasetFacts; now?: Date } = {}): Promise<VersionInfo | undefined> {
  let matched: VersionInfo | undefined;
  await swapObject(store, manifestObjectKey(dataset), {
    parse: parseManifest,
    what: `the manifest of ${dataset}`,
    change(manifest) {
      matched = matchingVersion(manifest, hash);
      return matched && manifest ? confirmed(manifest, options.now ?? new Date(), options.facts) : null;
    },
  });
  return matched;
}

/** What rollback, pin and unpin did. */
export interface ManifestChangeResult {
  before: SnapshotManifest;
  after: SnapshotManifest;
  changed: boolean;
}

async function changeManifest(store: ObjectStore, dataset: string, change: (manifest: SnapshotManifest) => SnapshotManifest | null): Promise<ManifestChangeResult> {
  const swap = await swapObject(store, manifestObjectKey(dataset), {
    parse: parseManifest,
    what: `the manifest of ${dataset}`,
    change(manifest) {
      if (manifest === null) throw new ProtocolError("not-found", `unknown dataset ${dataset}`);
      return change(manifest);
    },
  });
  return { before: swap.before!, after: swap.after!, changed: swap.changed };
}

/**
 * Makes a retained version current (older or newer than the current one). Pins the dataset unless
 * `pin` is false: otherwise the next scheduled build of the same content would publish it again and
 * undo the rollback.
 * @throws {ProtocolError} "not-found" for an unknown dataset or a version the manifest does not retain
 */
export function rollback(store: ObjectStore, dataset: string, version: string, options: { pin?: boolean; now?: Date } = {}): Promise<ManifestChangeResult> {
  const pin = options.pin ?? true;
  return changeManifest(store, dataset, (manifest) => {
    if (findVersion(manifest, version) === undefined) {
      throw new ProtocolError("not-found", `version ${version} of ${dataset} is not retained`);
    }
    if (manifest.current === version && manifest.pinned === pin) return null;
    return { ...manifest, current: version, pinned: pin, updated_at: (options.now ?? new Date()).toISOString() };
  });
}

/** Sets or clears `pinned`. While pinned, runs still build and record but do not replace `current`. */
export function setPinned(store: ObjectStore, dataset: string, pinned: boolean, now = new Date()): Promise<ManifestChangeResult> {
  return changeManifest(store, dataset, (manifest) => (manifest.pinned === pinned ? null : { ...manifest, pinned, updated_at: now.toISOString() }));
}

/**
 * Version folders that no manifest names are only deleted once they are this old: a publisher
 * uploads a version's objects before it swaps the manifest, and those must not vanish under it.
 */
export const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

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

export interface PruneOptions {
  keep?: number;
  dryRun?: boolean;
  now?: Date;
}

export interface PrunedDataset {
  dataset: string;
  /** Versions dropped from the manifest, with their info (the edge drops their hot copies). */
  dropped: VersionInfo[];
  /** Version folders no manifest named, old enough to go. */
  orphans: string[];
  /** Objects deleted (or, in a dry run, that would be). */
  objects: number;
  /** The manifest before and after the prune. */
  before: SnapshotManifest;
  manifest: SnapshotManifest;
}

/**
 * Drops versions beyond the newest `keep` from a dataset's manifest (never the current one) and
 * deletes their objects, and deletes version folders the manifest does not name that are older
 * than ORPHAN_MIN_AGE_MS (a publish that died after uploading). A dry run changes nothing.
 * @returns null when the dataset has no manifest
 */
export async function pruneDataset(store: ObjectStore, dataset: string, options: PruneOptions = {}): Promise<PrunedDataset | null> {
  const keep = options.keep ?? DEFAULT_RETAINED_VERSIONS;
  const now = options.now ?? new Date();
  const read = await readManifest(store, dataset);
  if (read === null) return null;
  const before = read.value;
  let manifest = read.value;
  let dropped = manifest.versions.filter((v) => !versionsToKeep(manifest, keep).has(v.version));
  if (!options.dryRun && dropped.length > 0) {
    const swap = await changeManifest(store, dataset, (m) => {
      const kept = versionsToKeep(m, keep);
      if (m.versions.every((v) => kept.has(v.version))) return null;
      return { ...m, versions: m.versions.filter((v) => kept.has(v.version)), updated_at: now.toISOString() };
    });
    manifest = swap.after;
    dropped = swap.before.versions.filter((v) => !versionsToKeep(swap.after, keep).has(v.version));
  }
  const named = new Set([...manifest.versions, ...dropped].map((v) => v.version));
  const orphans = (await listFolders(store, versionsPrefix(dataset))).filter((version) => {
    if (named.has(version)) return false;
    const time = versionTime(version);
    return time !== null && now.getTime() - time >= ORPHAN_MIN_AGE_MS;
  });
  let objects = 0;
  for (const version of [...dropped.map((v) => v.version), ...orphans]) {
    const keys = await listKeys(store, versionPrefix(dataset, version));
    objects += keys.length;
    if (!options.dryRun && keys.length > 0) await store.delete(keys);
  }
  return { dataset, dropped, orphans, objects, before, manifest };
}

/** Deletes every object of a version that no manifest names (a publish that did not complete). */
export async function discardVersion(store: ObjectStore, dataset: string, version: string): Promise<void> {
  const latest = await readManifest(store, dataset).catch(() => null);
  // A concurrent publisher of the same content in the same millisecond made the same version id,
  // so these objects may be its published ones: never delete what a manifest names.
  if (latest && findVersion(latest.value, version)) return;
  const keys = await listKeys(store, versionPrefix(dataset, version));
  if (keys.length > 0) await store.delete(keys);
}
