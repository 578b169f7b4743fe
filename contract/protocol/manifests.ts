/**
 * The head protocol, written once for both sides: reading a dataset's head and its versions'
 * indexes, publishing a version (its objects and index are stored first; the head is written
 * last, by compare-and-swap), confirming unchanged content, rolling back or forward, and pinning.
 * Every change goes through `swapHead`, so a publisher and an operator changing a head at the same
 * moment never overwrite each other, and a store still holding a schema-2 manifest is upgraded by
 * the first change: the indexes its versions need are stored before the schema-3 head that relies
 * on them.
 */
import { keyChangesKey, manifestObjectKey, versionIndexKey } from "../keys.ts";
import { parseKeyChanges, type KeyChanges } from "../changes.ts";
import {
  currentSummary,
  DEFAULT_RETAINED_VERSIONS,
  findSummary,
  headText,
  parseHeadText,
  summaryOf,
  withConfirmation,
  withPublishedVersion,
  type DatasetHead,
  type HeadState,
  type VersionSummary,
} from "../head.ts";
import type { DatasetFacts } from "../manifest.ts";
import type { ObjectStore } from "../storage.ts";
import { parseVersionIndex, versionIndexText, type VersionIndex } from "../version-index.ts";
import { readVersioned, swapObject, type Versioned } from "./cas.ts";
import { ProtocolError } from "./errors.ts";
import { isFencedOut } from "./leases.ts";

const JSON_TYPE = "application/json";

/**
 * Reads a dataset's head with its etag (a schema-2 manifest is read as a head plus its indexes).
 * @returns null when the dataset was never published
 * @throws {ProtocolError} "corrupt" when the head exists but is not valid
 */
export function readHead(store: ObjectStore, dataset: string): Promise<Versioned<HeadState> | null> {
  return readVersioned(store, manifestObjectKey(dataset), parseHeadText);
}

/**
 * Reads a retained version's index: from the schema-2 manifest it was described in, else its object.
 * @returns null when there is no index object
 * @throws {ProtocolError} "corrupt" when the object is not a valid index of that version
 */
export async function readIndex(store: ObjectStore, dataset: string, version: string, state?: HeadState | null): Promise<VersionIndex | null> {
  const legacy = state?.legacy?.get(version);
  if (legacy !== undefined) return legacy;
  const read = await readVersioned(store, versionIndexKey(dataset, version), parseVersionIndex);
  if (read === null) return null;
  if (read.value.version !== version || read.value.dataset !== dataset) {
    throw new ProtocolError("corrupt", `${versionIndexKey(dataset, version)} describes ${read.value.dataset}@${read.value.version}`);
  }
  return read.value;
}

/**
 * The index of a version the head retains.
 * @throws {ProtocolError} "corrupt" when it is missing or unreadable: the head names it, so it must be there
 */
export async function requireIndex(store: ObjectStore, dataset: string, version: string, state?: HeadState | null): Promise<VersionIndex> {
  const index = await readIndex(store, dataset, version, state);
  if (index === null) throw new ProtocolError("corrupt", `${versionIndexKey(dataset, version)} is named by the head but missing`);
  return index;
}

/** Stores a version's index (create-only: an index never changes once written). */
export async function writeIndex(store: ObjectStore, index: VersionIndex): Promise<void> {
  await store.put(versionIndexKey(index.dataset, index.version), versionIndexText(index), { contentType: JSON_TYPE, ifNoneMatch: "*" });
}

/** Reads the key changes a keyed version recorded against the version before it, or null. */
export async function readKeyChanges(store: ObjectStore, dataset: string, version: string): Promise<KeyChanges | null> {
  return (await readVersioned(store, keyChangesKey(dataset, version), parseKeyChanges))?.value ?? null;
}

/** Stores the indexes a schema-2 manifest described, before a schema-3 head relies on them. */
async function storeLegacyIndexes(store: ObjectStore, state: HeadState | null): Promise<void> {
  for (const index of state?.legacy?.values() ?? []) await writeIndex(store, index);
}

export interface SwapHeadOptions {
  /** The next head from the current one (null when none exists), or null for "nothing to change". */
  change: (current: HeadState | null) => DatasetHead | null;
  initial?: Versioned<HeadState> | null;
  attempts?: number;
  onLostSwap?: (attempt: number) => void;
}

/**
 * Swaps a dataset's head by compare-and-swap (contract/protocol/cas.ts), storing a schema-2
 * manifest's indexes first.
 * @throws {ProtocolError} "conflict" after repeated lost swaps; "corrupt" for a junk head
 */
export async function swapHead(store: ObjectStore, dataset: string, options: SwapHeadOptions): Promise<{ before: HeadState | null; after: DatasetHead | null; changed: boolean }> {
  const swap = await swapObject<HeadState>(store, manifestObjectKey(dataset), {
    parse: parseHeadText,
    serialize: (state) => headText(state.head),
    prepare: (current) => storeLegacyIndexes(store, current),
    what: `the manifest of ${dataset}`,
    attempts: options.attempts,
    onLostSwap: options.onLostSwap,
    initial: options.initial,
    change(current) {
      const next = options.change(current);
      return next === null ? null : { head: next, legacy: null };
    },
  });
  return { before: swap.before, after: swap.after?.head ?? null, changed: swap.changed };
}

/**
 * The version whose content equals `hash` and that a new publish would not change: the current
 * version, or while pinned also the newest built one (publishing it again would only duplicate it).
 */
export function matchingVersion(head: DatasetHead | null, hash: string): VersionSummary | undefined {
  if (!head) return undefined;
  const current = currentSummary(head);
  if (current?.hash === hash) return current;
  const newest = head.versions[0];
  if (head.pinned && newest?.hash === hash) return newest;
  return undefined;
}

/** Thrown inside a commit when a collection ran or runs since the publisher chose what to reuse. */
export class CollectorIntervened extends Error {
  override name = "CollectorIntervened";
  /** Until when a collection holds the lock (null: it finished; only the epoch moved). */
  readonly lockedUntil: string | null;

  constructor(lockedUntil: string | null) {
    super("a collection of unreferenced objects ran during the publish");
    this.lockedUntil = lockedUntil;
  }
}

export interface CommitOptions {
  /** Publish even when the content equals the current version (an operator's forced rebuild). */
  force?: boolean;
  facts?: DatasetFacts;
  retain?: number;
  now?: Date;
  /** Lost swaps tolerated before a "conflict". Default SWAP_ATTEMPTS. */
  attempts?: number;
  onLostSwap?: (attempt: number) => void;
  /** The head as the caller read it before uploading (saves a read when it is still current). */
  initial?: Versioned<HeadState> | null;
  /**
   * The collector epoch the publisher's uploads were planned against: when the head shows another
   * (or a collection in progress) the commit throws CollectorIntervened instead of writing.
   */
  epoch?: number;
  /**
   * The fencing token of the dataset's lease the run holds (schedulers sharing leases): refused
   * when the head already records a newer one, and recorded in the head otherwise.
   */
  leaseToken?: number;
}

export type CommitResult = {
  outcome: "ok" | "unchanged";
  /** The version published, or the one that already served the content. */
  summary: VersionSummary;
  head: DatasetHead;
  /** Versions the head no longer retains after this publish (their objects await collection). */
  dropped: VersionSummary[];
};

/** Whether the head's collector state rules out a commit planned at `epoch` at time `now`. */
export function collectorIntervened(head: DatasetHead | null, epoch: number | undefined, now: Date): CollectorIntervened | null {
  if (head === null || epoch === undefined) return null;
  const locked = head.gc.locked_until !== null && Date.parse(head.gc.locked_until) > now.getTime();
  return locked || head.gc.epoch !== epoch ? new CollectorIntervened(locked ? head.gc.locked_until : null) : null;
}

/**
 * Makes a stored version current (the last step of a publish). When, by the time of the swap, the
 * head already serves the same content (a concurrent publisher won with it), nothing is published:
 * the result is "unchanged" with that version, and its `checked_at` is refreshed.
 * @throws {ProtocolError} "conflict" after repeated lost swaps; "corrupt" for a junk head
 * @throws {CollectorIntervened} when `epoch` is given and a collection ran or runs
 */
export async function commitVersion(store: ObjectStore, dataset: string, index: VersionIndex, options: CommitOptions = {}): Promise<CommitResult> {
  const now = options.now ?? new Date();
  let matched: VersionSummary | undefined;
  let dropped: VersionSummary[] = [];
  const swap = await swapHead(store, dataset, {
    attempts: options.attempts,
    onLostSwap: options.onLostSwap,
    initial: options.initial,
    change(current) {
      const head = current?.head ?? null;
      const intervened = collectorIntervened(head, options.epoch, new Date());
      if (intervened) throw intervened;
      if (isFencedOut(head?.lease_token, options.leaseToken)) {
        throw new ProtocolError("conflict", `${dataset}: a run under a newer lease (token ${head!.lease_token}) published since; this run's token ${options.leaseToken} is stale and may not publish`);
      }
      matched = options.force ? undefined : matchingVersion(head, index.hash);
      if (matched && head) {
        dropped = [];
        return withLeaseToken(withConfirmation(head, now, options.facts), options.leaseToken);
      }
      const published = withPublishedVersion(head, dataset, summaryOf(index), now, options.facts, options.retain ?? DEFAULT_RETAINED_VERSIONS);
      dropped = published.dropped;
      return withLeaseToken(published.head, options.leaseToken);
    },
  });
  const head = swap.after!;
  return matched ? { outcome: "unchanged", summary: matched, head, dropped } : { outcome: "ok", summary: findSummary(head, index.version)!, head, dropped };
}

/** The head recording `token` as the newest lease token a publish ran under. Pure. */
function withLeaseToken(head: DatasetHead, token: number | undefined): DatasetHead {
  if (token === undefined) return head;
  return { ...head, lease_token: Math.max(head.lease_token ?? 0, token) };
}

/**
 * Records that a run built exactly the content already served: refreshes `checked_at` (what
 * freshness is measured from) without publishing anything.
 * @returns the version that matched, or undefined when the head no longer serves `hash` (a
 *   concurrent publish changed it; the caller should publish after all)
 */
export async function confirmUnchanged(store: ObjectStore, dataset: string, hash: string, options: { facts?: DatasetFacts; now?: Date } = {}): Promise<VersionSummary | undefined> {
  let matched: VersionSummary | undefined;
  await swapHead(store, dataset, {
    change(current) {
      matched = matchingVersion(current?.head ?? null, hash);
      return matched && current ? withConfirmation(current.head, options.now ?? new Date(), options.facts) : null;
    },
  });
  return matched;
}

/** What rollback, pin and unpin did. */
export interface HeadChangeResult {
  before: DatasetHead;
  after: DatasetHead;
  changed: boolean;
}

/** Changes an existing dataset's head. @throws {ProtocolError} "not-found" for an unknown dataset */
export async function changeHead(store: ObjectStore, dataset: string, change: (head: DatasetHead) => DatasetHead | null): Promise<HeadChangeResult> {
  const swap = await swapHead(store, dataset, {
    change(current) {
      if (current === null) throw new ProtocolError("not-found", `unknown dataset ${dataset}`);
      return change(current.head);
    },
  });
  return { before: swap.before!.head, after: swap.after!, changed: swap.changed };
}

/**
 * Makes a retained version current (older or newer than the current one). Pins the dataset unless
 * `pin` is false: otherwise the next scheduled build of the same content would publish it again and
 * undo the rollback.
 * @throws {ProtocolError} "not-found" for an unknown dataset or a version the head does not retain
 */
export function rollback(store: ObjectStore, dataset: string, version: string, options: { pin?: boolean; now?: Date } = {}): Promise<HeadChangeResult> {
  const pin = options.pin ?? true;
  return changeHead(store, dataset, (head) => {
    if (findSummary(head, version) === undefined) {
      throw new ProtocolError("not-found", `version ${version} of ${dataset} is not retained`);
    }
    if (head.current === version && head.pinned === pin) return null;
    return { ...head, current: version, pinned: pin, updated_at: (options.now ?? new Date()).toISOString() };
  });
}

/** Sets or clears `pinned`. While pinned, runs still build and record but do not replace `current`. */
export function setPinned(store: ObjectStore, dataset: string, pinned: boolean, now = new Date()): Promise<HeadChangeResult> {
  return changeHead(store, dataset, (head) => (head.pinned === pinned ? null : { ...head, pinned, updated_at: now.toISOString() }));
}

/** The build time encoded in a version id (`20261123T161500123Z-...`), or null. */
export function versionTime(version: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-/.exec(version);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7]));
}

export type { DatasetHead, HeadState, VersionSummary };
