/**
 * The publish protocol on the compute side. R2 is the source of truth and readers trust the head,
 * so the order is what makes a publish safe:
 * 1. plan the version from its rows on disk (content-defined pages, hashes, the item index:
 *    ./plan.ts); if its content equals the current version's, only confirm it (`checked_at`) and
 *    publish nothing;
 * 2. store what is new: pages and item index shards are named by their sha256 and shared between
 *    versions, so only those no retained version references are uploaded (the retained versions'
 *    indexes say which, without asking the store object by object); then the other formats, the
 *    key changes and the version's index;
 * 3. write the head LAST, by compare-and-swap (contract/protocol/manifests.ts). If a collection of
 *    unreferenced objects ran meanwhile (contract/protocol/collect.ts), the commit refuses: the
 *    publisher checks which of its objects are gone, uploads them again and commits again.
 * A reader that sees a version in the head can rely on its index and objects being there. A
 * publish that fails or is stopped before step 3 deletes its version's own objects; pages it
 * uploaded are left to the next collection (another publish may already reference them).
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#conditional-operations
 */
import { readFile } from "node:fs/promises";
import pLimit from "p-limit";
import {
  formatObjectKey,
  itemShardObjectKey,
  keyChangesKey,
  listKeys,
  makeVersionId,
  ndjsonPageObjectKey,
  deflatePieceObjectKey,
  pageObjectKey,
  versionPrefix,
  JSON_CONTENT_TYPE,
  FORMAT_CONTENT_TYPES,
  SHARD_CONTENT_TYPE,
  INDEX_SCHEMA_VERSION,
  objectKeysOf,
  type Column,
  type DatasetFacts,
  type HeadState,
  type IndexFormat,
  type VersionIndex,
} from "../../contract/index.ts";
import type { Versioned } from "../../contract/protocol/cas.ts";
import { COLLECT_INTERVAL_MS, collectGarbage } from "../../contract/protocol/collect.ts";
import { assertLeaseHeld } from "../../contract/protocol/leases.ts";
import { CollectorIntervened, commitVersion, confirmUnchanged, matchingVersion, readHead, readIndex, writeIndex, type CommitResult } from "../../contract/protocol/manifests.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import type { Logger } from "../run/logger.ts";
import type { ObjectStore } from "../storage/index.ts";
import { sha256Hex } from "../storage/hash.ts";
import { uploadFormat, type FormatFile } from "./formats.ts";
import { piecesFormat, piecesOf, planPieces, type PlannedPiece } from "./pieces.ts";
import { planItems, type PlannedItems } from "./items.ts";
import { planKeyChanges, type PlannedKeyChanges } from "./key-changes.ts";
import { readNdjsonPage, readPage, type VersionPlan } from "./plan.ts";

/** Uploads in flight at once: enough to hide latency, few enough to bound memory (pages are ~4 MiB). */
export const UPLOAD_CONCURRENCY = 4;

/** How many times a publish plans its uploads again after a collection intervened. */
const COLLECTOR_RETRIES = 8;

export interface PublishInput {
  dataset: string;
  plan: VersionPlan;
  columns: Column[];
  /** Key column of a keyed dataset (the plan then has item-index shard files). */
  key: string | null;
  /** When the build finished: the version's generated_at and the time part of its id. */
  generatedAt: Date;
  runId?: string;
  /** The definition's description and freshness budget, recorded in the head. */
  facts?: DatasetFacts;
  /**
   * The other formats, written and hashed (./formats.ts), or what writes them: called only once the
   * content is known to be new, so an unchanged run writes none. None by default.
   */
  formats?: readonly FormatFile[] | (() => Promise<readonly FormatFile[]>);
  /** Store the gzip copies of CSV and NDJSON beside them (default true). */
  compress?: boolean;
}

export interface PublishOptions {
  log?: Logger;
  /** The head as already read by the caller; re-read when omitted. */
  head?: Versioned<HeadState> | null;
  /** Stops before the head write when aborted. */
  signal?: AbortSignal;
  /** Publish a new version even when the content equals the current one (a forced rebuild). */
  force?: boolean;
  /** Lost head swaps tolerated before a "conflict". Default SWAP_ATTEMPTS (5). */
  attempts?: number;
  /** Collect unreferenced objects after the commit when due (default true). */
  collect?: boolean;
  /** Versions the head retains (default DEFAULT_RETAINED_VERSIONS). */
  retain?: number;
  /** How long a collection after this publish may hold the head's lock (default COLLECT_LOCK_MS). */
  collectLockMs?: number;
  /**
   * The fencing token of the dataset's lease this run holds (schedulers sharing leases): checked
   * against the lease just before the head swap, and against the head's newest inside it, so a
   * run whose scheduler lost the lease while it ran never publishes.
   */
  leaseToken?: number;
}

/** What a publish stored, for logs and benchmarks. */
export interface UploadStats {
  objects: number;
  bytes: number;
  /** Pages the version shares with versions already stored. */
  reusedPages: number;
}

export type PublishResult = { outcome: "ok" | "unchanged"; version: string; index: VersionIndex | null; uploaded: UploadStats };

/** A publish input whose formats are written. */
type WrittenInput = Omit<PublishInput, "formats"> & { formats: readonly FormatFile[] };

/** One object a version needs: its key and how to read its bytes (or a stream, for formats). */
interface NeededObject {
  key: string;
  read: () => Promise<Uint8Array>;
  contentType: string;
  /** Formats upload as a stream with their own checksum. */
  format?: FormatFile;
}

function stopped(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EdgesnapError("internal", "run stopped before the head write");
}

/** The indexes of the versions the head retains, newest first (the current one included). */
async function retainedIndexes(store: ObjectStore, dataset: string, state: HeadState | null): Promise<VersionIndex[]> {
  if (state === null) return [];
  const indexes = await Promise.all(state.head.versions.map((summary) => readIndex(store, dataset, summary.version, state).catch(() => null)));
  return indexes.filter((index): index is VersionIndex => index !== null);
}

/** The version index a plan makes. Pure. */
function versionIndexOf(input: WrittenInput, previous: VersionIndex | null, items: PlannedItems | null, keyChanges: PlannedKeyChanges | null, pieces: PlannedPiece[] | null): VersionIndex {
  const { plan } = input;
  const formats: Record<string, IndexFormat> = {};
  for (const file of input.formats) {
    const gzip = file.gzip ? { gzip: { bytes: file.gzip.bytes, sha256: file.gzip.sha256 } } : file.format === "ndjson" && pieces ? { gzip: piecesFormat(pieces) } : {};
    formats[file.format] = { bytes: file.bytes, sha256: file.sha256, paged: file.format === "ndjson", ...gzip };
  }
  return {
    schema: INDEX_SCHEMA_VERSION,
    dataset: input.dataset,
    version: makeVersionId(input.generatedAt, plan.hash),
    hash: plan.hash,
    generated_at: input.generatedAt.toISOString(),
    rows: plan.rows,
    bytes: plan.bytes,
    columns: input.columns,
    key: input.key,
    ...(input.runId ? { run_id: input.runId } : {}),
    layout: "content",
    pages: plan.pages.map(({ first_row, rows, bytes, sha256 }) => ({ first_row, rows, bytes, sha256 })),
    items: items?.items ?? null,
    formats,
    previous: previous?.version ?? null,
    key_changes: keyChanges?.counts ?? null,
  };
}

/** Every object of the version but its index, with how to read it. */
function neededObjects(input: WrittenInput, index: VersionIndex, items: PlannedItems | null, keyChanges: PlannedKeyChanges | null, pieces: PlannedPiece[] | null): NeededObject[] {
  const { dataset, plan } = input;
  const objects: NeededObject[] = plan.pages.map((page) => ({ key: pageObjectKey(dataset, page.sha256), read: () => readPage(plan.rowsFile, page), contentType: JSON_CONTENT_TYPE }));
  if (index.formats.ndjson) {
    for (const page of plan.pages.filter((p) => p.rows > 0)) {
      objects.push({ key: ndjsonPageObjectKey(dataset, page.sha256), read: () => readNdjsonPage(plan.rowsFile, page), contentType: FORMAT_CONTENT_TYPES.ndjson });
    }
  }
  for (const shard of items?.shards ?? []) objects.push({ key: itemShardObjectKey(dataset, shard.sha256), read: () => readFile(shard.file), contentType: SHARD_CONTENT_TYPE });
  if (keyChanges?.changes) {
    const text = new TextEncoder().encode(JSON.stringify(keyChanges.changes));
    objects.push({ key: keyChangesKey(dataset, index.version), read: async () => text, contentType: JSON_CONTENT_TYPE });
  }
  for (const file of input.formats.filter((f) => f.format !== "ndjson")) {
    objects.push({ key: formatObjectKey(dataset, index.version, file.format), read: async () => new Uint8Array(), contentType: FORMAT_CONTENT_TYPES[file.format], format: file });
    if (file.gzip) objects.push({ key: formatObjectKey(dataset, index.version, `${file.format}.gz`), read: async () => new Uint8Array(), contentType: "application/gzip", format: { ...file, file: file.gzip.file, sha256: file.gzip.sha256 } });
  }
  for (const piece of pieces ?? []) {
    if (piece.file !== undefined) objects.push({ key: deflatePieceObjectKey(dataset, piece.sha256), read: () => readFile(piece.file!), contentType: "application/octet-stream" });
  }
  return objects;
}

/**
 * Uploads the objects no retained version references. After a collection intervened (`check`),
 * each is first looked up, since it may or may not have been deleted.
 */
async function uploadMissing(store: ObjectStore, input: WrittenInput, objects: readonly NeededObject[], known: ReadonlySet<string>, check: boolean, signal?: AbortSignal): Promise<UploadStats> {
  const limit = pLimit(UPLOAD_CONCURRENCY);
  const stats: UploadStats = { objects: 0, bytes: 0, reusedPages: 0 };
  const missing = [...new Map(objects.filter((o) => !known.has(o.key)).map((o) => [o.key, o])).values()];
  stats.reusedPages = input.plan.pages.filter((page) => known.has(pageObjectKey(input.dataset, page.sha256))).length;
  await Promise.all(
    missing.map((object) =>
      limit(async () => {
        stopped(signal);
        if (check && (await store.head(object.key)) !== null) return;
        if (object.format) {
          await uploadFormat(store, object.key, object.format, object.contentType);
          stats.bytes += object.format.bytes;
        } else {
          const bytes = await object.read();
          // Unconditional: an object already under a content-addressed key holds these same bytes.
          await store.put(object.key, bytes, { contentType: object.contentType, sha256: sha256Hex(bytes) });
          stats.bytes += bytes.byteLength;
        }
        stats.objects += 1;
      }),
    ),
  );
  return stats;
}

/** Whether a delta's base (the previous version's shards, which this publish does not upload) is unreferenced now. */
function reusedBaseMissing(dataset: string, items: PlannedItems, known: ReadonlySet<string>): boolean {
  if (items.items.kind !== "index") return false;
  const uploading = new Set(items.shards.map((shard) => shard.sha256));
  return items.items.shards.some((sha) => !uploading.has(sha) && !known.has(itemShardObjectKey(dataset, sha)));
}

/** How often a publish looks whether a collection that holds the head's lock is done. */
const COLLECTOR_POLL_MS = 250;

/**
 * Waits until no collection holds the head's lock (it clears the lock when done; a killed one's
 * lock expires), then returns the head as it is.
 */
async function waitForCollector(store: ObjectStore, dataset: string, intervened: CollectorIntervened, log?: Logger): Promise<Versioned<HeadState> | null> {
  if (intervened.lockedUntil !== null) log?.info("a collection is deleting unreferenced objects; the publish waits for it", { until: intervened.lockedUntil });
  for (;;) {
    const read = await readHead(store, dataset);
    const until = read?.value.head.gc.locked_until;
    if (read === null || until === null || until === undefined || Date.parse(until) <= Date.now()) return read;
    await new Promise((resolve) => setTimeout(resolve, Math.min(COLLECTOR_POLL_MS, Date.parse(until) - Date.now() + 10)));
  }
}

/** Deletes the objects of a version that no head names (a publish that did not complete). */
async function discardVersion(store: ObjectStore, dataset: string, version: string): Promise<void> {
  const latest = await readHead(store, dataset).catch(() => null);
  // A concurrent publisher of the same content in the same millisecond made the same version id,
  // so these objects may be its published ones: never delete what a head names.
  if (latest?.value.head.versions.some((v) => v.version === version)) return;
  const keys = await listKeys(store, versionPrefix(dataset, version));
  if (keys.length > 0) await store.delete(keys);
}

/** Plans and stores the version's objects against `state`, then commits; @returns the commit */
async function storeAndCommit(store: ObjectStore, input: WrittenInput, initial: Versioned<HeadState> | null, options: PublishOptions, uploaded: UploadStats): Promise<{ commit: CommitResult; index: VersionIndex }> {
  let state = initial;
  const first = await retainedIndexes(store, input.dataset, state?.value ?? null);
  const previous = first.find((index) => index.version === state?.value.head.current) ?? null;
  let items = input.key === null ? null : await planItems(input.plan, previous);
  const keyChanges = input.key !== null && previous !== null ? await planKeyChanges(store, input.plan, previous, makeVersionId(input.generatedAt, input.plan.hash), input.key) : null;
  for (let attempt = 1; ; attempt++) {
    const retained = attempt === 1 ? first : await retainedIndexes(store, input.dataset, state?.value ?? null);
    const known = new Set(retained.flatMap(objectKeysOf));
    // A reused base that no retained version references any more may be collected: build a new one.
    if (items !== null && reusedBaseMissing(input.dataset, items, known)) items = await planItems(input.plan, null);
    const pieces = input.formats.some((f) => f.format === "ndjson") && input.compress !== false ? await planPieces(input.plan, piecesOf(input.dataset, retained, known)) : null;
    const index = versionIndexOf(input, previous, items, keyChanges, pieces);
    const stats = await uploadMissing(store, input, neededObjects(input, index, items, keyChanges, pieces), known, attempt > 1, options.signal);
    uploaded.objects += stats.objects;
    uploaded.bytes += stats.bytes;
    uploaded.reusedPages = stats.reusedPages;
    stopped(options.signal);
    await writeIndex(store, index);
    stopped(options.signal);
    if (options.leaseToken !== undefined) await assertLeaseHeld(store, input.dataset, options.leaseToken);
    try {
      const commit = await commitVersion(store, input.dataset, index, {
        leaseToken: options.leaseToken,
        force: options.force,
        facts: input.facts,
        now: input.generatedAt,
        retain: options.retain,
        attempts: options.attempts,
        initial: state,
        epoch: state?.value.head.gc.epoch ?? 0,
        onLostSwap: (n) => options.log?.info("head changed concurrently; retrying", { attempt: n }),
      });
      return { commit, index };
    } catch (error) {
      if (!(error instanceof CollectorIntervened) || attempt >= COLLECTOR_RETRIES) throw error;
      state = await waitForCollector(store, input.dataset, error, options.log);
    }
  }
}

/** Collects unreferenced objects after a publish when versions were dropped or the last collection is old. */
async function collectIfDue(store: ObjectStore, dataset: string, commit: CommitResult, options: PublishOptions): Promise<void> {
  const log = options.log;
  // Never collected: counted from the oldest retained version, so a new dataset is not collected at once.
  const last = Date.parse(commit.head.gc.collected_at ?? commit.head.versions.at(-1)?.generated_at ?? new Date().toISOString());
  if (commit.dropped.length === 0 && Date.now() - last < COLLECT_INTERVAL_MS) return;
  try {
    const collected = await collectGarbage(store, dataset, { dropped: commit.dropped, lockMs: options.collectLockMs });
    if (collected && collected.deleted.length > 0) log?.info("collected unreferenced objects", { objects: collected.deleted.length, partial: collected.partial });
  } catch (error) {
    log?.warn("collecting unreferenced objects failed; the next publish tries again", { error });
  }
}

/**
 * Publishes a planned version (see the module comment). Content equal to the current version's
 * publishes nothing and returns "unchanged".
 * @throws {EdgesnapError} "conflict" after repeated lost swaps; "storage" on store failures;
 *   "gate-rejected" for a duplicate item key; "build-failed" when writing a format fails. Nothing
 *   is published when it throws.
 */
export async function publishVersion(store: ObjectStore, input: PublishInput, options: PublishOptions = {}): Promise<PublishResult> {
  const { dataset, plan } = input;
  const uploaded: UploadStats = { objects: 0, bytes: 0, reusedPages: 0 };
  let state: Versioned<HeadState> | null;
  try {
    state = options.head === undefined ? await readHead(store, dataset) : options.head;
    if (!options.force && matchingVersion(state?.value.head ?? null, plan.hash)) {
      const confirmed = await confirmUnchanged(store, dataset, plan.hash, { facts: input.facts, now: input.generatedAt });
      // A concurrent publisher may have changed the current version since: then publish after all.
      if (confirmed) return { outcome: "unchanged", version: confirmed.version, index: null, uploaded };
    }
  } catch (error) {
    throw toEdgesnapError(error, "storage");
  }
  const written: WrittenInput = { ...input, formats: typeof input.formats === "function" ? await input.formats() : (input.formats ?? []) };
  const version = makeVersionId(input.generatedAt, plan.hash);
  try {
    const { commit, index } = await storeAndCommit(store, written, state, options, uploaded);
    options.log?.debug("stored version objects", { version, ...uploaded });
    if (commit.outcome === "unchanged") {
      options.log?.info("a concurrent publisher published the same content first", { version: commit.summary.version });
      await discardVersion(store, dataset, version);
      return { outcome: "unchanged", version: commit.summary.version, index: null, uploaded };
    }
    if (options.collect !== false) await collectIfDue(store, dataset, commit, options);
    return { outcome: "ok", version: commit.summary.version, index, uploaded };
  } catch (error) {
    // Deletes the version's own objects unless a head names it (a write whose answer was lost).
    await discardVersion(store, dataset, version).catch((cleanup: unknown) => options.log?.warn("could not delete unpublished version objects", { version, error: cleanup }));
    throw toEdgesnapError(error, "storage");
  }
}
