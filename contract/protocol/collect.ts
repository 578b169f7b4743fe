/**
 * Pruning by reachability. Pages and item index shards are shared between versions, so an object
 * is deleted only when no version the head retains references it (a pinned version is the current
 * one, always retained). `collectGarbage` deletes every object of a dataset that no retained version
 * references: those of versions the head dropped, and orphans that a killed publish left, once
 * they are older than ORPHAN_MIN_AGE_MS.
 *
 * A publish reuses objects it knows from the retained versions' indexes and uploads only the rest,
 * then commits the head. A collection must not delete an object such a publish is about to
 * reference, and R2 has no conditional delete, so the head carries the collector's state:
 * 1. the collector takes a lock in the head (`gc.locked_until`), by compare-and-swap: no publish
 *    commits while it is held;
 * 2. it reads the retained versions from that head and lists the dataset's objects; when some are
 *    unreferenced it bumps `gc.epoch` (still under the lock) and deletes them, stopping before half
 *    its lock has passed;
 * 3. it clears the lock. A collection that finds nothing to delete leaves the epoch alone.
 * A publisher remembers the epoch of the head it planned its uploads against. Its commit (a swap of
 * the same head) refuses while a lock is held or when the epoch moved: then it waits for the lock,
 * checks which of its objects are still there, uploads the missing ones and commits again. Every
 * deletion happens under a lock that began after the publisher's plan, so whatever it references
 * was either retained in the head the collector read, or is checked again after the collection.
 * A collector killed with its lock held leaves it to expire (COLLECT_LOCK_MS); the epoch it bumped
 * still sends publishers through the check. Clocks of the collector and the publishers may differ
 * by less than half the lock.
 */
import { datasetPrefix, manifestObjectKey } from "../keys.ts";
import type { DatasetHead, HeadState, VersionSummary } from "../head.ts";
import { DEFAULT_RETAINED_VERSIONS } from "../head.ts";
import { listAll, type ObjectStore } from "../storage.ts";
import { objectKeysOf } from "../version-index.ts";
import { ProtocolError } from "./errors.ts";
import { readHead, requireIndex, swapHead, type HeadChangeResult } from "./manifests.ts";

/** How long a collection may hold the head's lock; it stops deleting at half of it. */
export const COLLECT_LOCK_MS = 2 * 60 * 1000;

/**
 * Objects no retained version references are deleted only once this old (by their upload time),
 * unless a dropped version referenced them: a publish uploads before it commits, and the uploads
 * of one in flight should not have to be redone.
 */
export const ORPHAN_MIN_AGE_MS = 10 * 60 * 1000;

/** A collection runs after a publish when the last one is older than this (or versions were dropped). */
export const COLLECT_INTERVAL_MS = 10 * 60 * 1000;

/** How many keys one delete call takes (R2 and S3 accept up to 1000). */
const DELETE_BATCH = 1000;

export interface CollectOptions {
  now?: () => Date;
  dryRun?: boolean;
  /** Versions just dropped from the head: their unreferenced objects go whatever their age. */
  dropped?: readonly VersionSummary[];
  /** The indexes of `dropped` as a schema-2 head described them (else read from storage). */
  droppedState?: HeadState | null;
  minAgeMs?: number;
  /** A dry run of a prune: count only these retained versions as referencing. */
  assumeRetained?: ReadonlySet<string>;
  /** How long the collection may hold the head's lock; it stops deleting at half. Default COLLECT_LOCK_MS. */
  lockMs?: number;
}

export interface CollectResult {
  dataset: string;
  /** Objects deleted (or, in a dry run, that would be), in key order. */
  deleted: string[];
  /** Whether the collection stopped before it was done (its lock's time ran out). */
  partial: boolean;
  /** Another collection held the lock: nothing was done. */
  busy: boolean;
}

/** The keys every retained version of `state` references, plus the head itself. */
async function referencedKeys(store: ObjectStore, dataset: string, state: HeadState, only?: ReadonlySet<string>): Promise<Set<string>> {
  const keys = new Set([manifestObjectKey(dataset)]);
  for (const summary of state.head.versions) {
    if (only !== undefined && !only.has(summary.version)) continue;
    for (const key of objectKeysOf(await requireIndex(store, dataset, summary.version, state))) keys.add(key);
  }
  return keys;
}

/** Keys of the dropped versions (their indexes are still stored: only a collection deletes them). */
async function droppedKeys(store: ObjectStore, dataset: string, options: CollectOptions): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const summary of options.dropped ?? []) {
    const index = await requireIndex(store, dataset, summary.version, options.droppedState).catch(() => null);
    for (const key of index === null ? [] : objectKeysOf(index)) keys.add(key);
  }
  return keys;
}

/**
 * Changes the collector's state in the head: "lock" takes the lock (null when another holds it),
 * "delete" bumps the epoch under the lock (before the first deletion), "unlock" clears the lock.
 */
async function setCollector(store: ObjectStore, dataset: string, now: Date, step: "lock" | "delete" | "unlock", lockMs = COLLECT_LOCK_MS): Promise<DatasetHead | null> {
  let busy = false;
  const swap = await swapHead(store, dataset, {
    change(current) {
      if (current === null) throw new ProtocolError("not-found", `unknown dataset ${dataset}`);
      const gc = current.head.gc;
      if (step === "unlock") return { ...current.head, gc: { ...gc, locked_until: null, collected_at: now.toISOString() } };
      if (step === "delete") return { ...current.head, gc: { ...gc, epoch: gc.epoch + 1 } };
      busy = gc.locked_until !== null && Date.parse(gc.locked_until) > now.getTime();
      if (busy) return null;
      return { ...current.head, gc: { ...gc, locked_until: new Date(now.getTime() + lockMs).toISOString() } };
    },
  });
  return busy ? null : swap.after;
}

/** The objects to delete: unreferenced, and either a dropped version's or older than the minimum age. */
async function unreferencedObjects(store: ObjectStore, dataset: string, referenced: Set<string>, dropped: Set<string>, before: number): Promise<string[]> {
  const out: string[] = [];
  for await (const page of listAll(store, datasetPrefix(dataset))) {
    for (const object of page.objects) {
      if (referenced.has(object.key)) continue;
      if (dropped.has(object.key) || object.uploaded.getTime() < before) out.push(object.key);
    }
  }
  return out.sort();
}

/**
 * Deletes every object of `dataset` that no retained version references (see the module comment).
 * Never deletes on partial knowledge: a retained version whose index cannot be read stops it.
 * @returns null when the dataset has no head
 * @throws {ProtocolError} "corrupt" for an unreadable head or retained index
 */
export async function collectGarbage(store: ObjectStore, dataset: string, options: CollectOptions = {}): Promise<CollectResult | null> {
  const clock = options.now ?? (() => new Date());
  const started = clock();
  const minAge = options.minAgeMs ?? ORPHAN_MIN_AGE_MS;
  const read = await readHead(store, dataset);
  if (read === null) return null;
  const result: CollectResult = { dataset, deleted: [], partial: false, busy: false };
  const lockMs = options.lockMs ?? COLLECT_LOCK_MS;
  if (!options.dryRun && (await setCollector(store, dataset, started, "lock", lockMs)) === null) return { ...result, busy: true };
  try {
    // The head as it is now (after the lock): what the publishers committed before it.
    const state = options.dryRun ? read.value : (await readHead(store, dataset))!.value;
    const referenced = await referencedKeys(store, dataset, state, options.assumeRetained);
    const dropped = await droppedKeys(store, dataset, options);
    const doomed = await unreferencedObjects(store, dataset, referenced, dropped, started.getTime() - minAge);
    if (options.dryRun || doomed.length === 0) return { ...result, deleted: options.dryRun ? doomed : [] };
    // Publishers that planned before this moment see the epoch move and check their objects again.
    await setCollector(store, dataset, clock(), "delete");
    const deadline = started.getTime() + lockMs / 2;
    for (let at = 0; at < doomed.length; at += DELETE_BATCH) {
      if (clock().getTime() > deadline) return { ...result, partial: true };
      const batch = doomed.slice(at, at + DELETE_BATCH);
      await store.delete(batch);
      result.deleted.push(...batch);
    }
    return result;
  } finally {
    if (!options.dryRun) await setCollector(store, dataset, clock(), "unlock");
  }
}

/** The versions a prune keeps: the newest `keep`, plus the current one wherever it is. Pure. */
export function versionsToKeep(head: DatasetHead, keep: number): Set<string> {
  const kept = new Set(head.versions.slice(0, keep).map((v) => v.version));
  if (head.current !== null) kept.add(head.current);
  return kept;
}

export interface PruneOptions {
  keep?: number;
  dryRun?: boolean;
  now?: () => Date;
  minAgeMs?: number;
}

export interface PrunedDataset {
  dataset: string;
  /** Versions dropped from the head. */
  dropped: VersionSummary[];
  /** Objects deleted (or, in a dry run, that would be). */
  objects: number;
  /** The head change (before and after), or null when the head kept every version. */
  change: HeadChangeResult | null;
  partial: boolean;
}

/**
 * Drops versions beyond the newest `keep` from a dataset's head (never the current one), then
 * collects: deletes what no retained version references (shared pages stay while any retained
 * version holds them). A dry run changes nothing and lists what would go.
 * @returns null when the dataset has no head
 */
export async function pruneDataset(store: ObjectStore, dataset: string, options: PruneOptions = {}): Promise<PrunedDataset | null> {
  const keep = options.keep ?? DEFAULT_RETAINED_VERSIONS;
  const now = options.now ?? (() => new Date());
  const read = await readHead(store, dataset);
  if (read === null) return null;
  let dropped = read.value.head.versions.filter((v) => !versionsToKeep(read.value.head, keep).has(v.version));
  let change: HeadChangeResult | null = null;
  if (!options.dryRun && dropped.length > 0) {
    const swap = await swapHead(store, dataset, {
      change(current) {
        const head = current!.head;
        const kept = versionsToKeep(head, keep);
        if (head.versions.every((v) => kept.has(v.version))) return null;
        return { ...head, versions: head.versions.filter((v) => kept.has(v.version)), updated_at: now().toISOString() };
      },
    });
    const before = swap.before!.head;
    change = { before, after: swap.after!, changed: swap.changed };
    dropped = before.versions.filter((v) => !versionsToKeep(swap.after!, keep).has(v.version));
  }
  const assumeRetained = options.dryRun ? versionsToKeep(read.value.head, keep) : undefined;
  const collected = await collectGarbage(store, dataset, { now, dryRun: options.dryRun, dropped, droppedState: read.value, minAgeMs: options.minAgeMs, assumeRetained });
  return { dataset, dropped, objects: collected?.deleted.length ?? 0, change, partial: collected?.partial ?? false };
}
