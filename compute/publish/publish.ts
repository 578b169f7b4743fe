/**
 * The publish protocol on the compute side. R2 is the source of truth and readers trust the
 * manifest, so the order is what makes a publish safe:
 * 1. plan the version from its rows on disk (pages, hashes, item shards: ./plan.ts); if its
 *    content equals the current version's, only confirm it (`checked_at`) and publish nothing;
 * 2. upload every object of the new version (pages, item shards, the other formats: ./formats.ts)
 *    under its own immutable prefix, a few at a time;
 * 3. write the dataset's manifest LAST, by compare-and-swap (contract/protocol/manifests.ts).
 * A reader that sees a version in the manifest can rely on its objects being there. A publish that
 * fails or is stopped before step 3 leaves only unreferenced objects, which it deletes; a run killed
 * outright leaves them for the operator's prune (orphan version folders).
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#conditional-operations
 */
import { readFile } from "node:fs/promises";
import pLimit from "p-limit";
import {
  makeVersionId,
  pageObjectKey,
  shardObjectKey,
  JSON_CONTENT_TYPE,
  SHARD_CONTENT_TYPE,
  type Column,
  type DatasetFacts,
  type SnapshotManifest,
  type VersionInfo,
} from "../../contract/index.ts";
import type { Versioned } from "../../contract/protocol/cas.ts";
import { commitVersion, confirmUnchanged, discardVersion, matchingVersion, readManifest } from "../../contract/protocol/manifests.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import type { Logger } from "../run/logger.ts";
import type { ObjectStore } from "../storage/index.ts";
import { sha256Hex } from "../storage/hash.ts";
import { formatRecord, uploadFormat, type FormatFile } from "./formats.ts";
import { readPage, type VersionPlan } from "./plan.ts";

/** Uploads in flight at once: enough to hide latency, few enough to bound memory (pages are ~4 MiB). */
export const UPLOAD_CONCURRENCY = 4;

export interface PublishInput {
  dataset: string;
  plan: VersionPlan;
  columns: Column[];
  /** Key column of a keyed dataset (the plan then has shard files). */
  key: string | null;
  /** When the build finished: the version's generated_at and the time part of its id. */
  generatedAt: Date;
  runId?: string;
  /** The definition's description and freshness budget, recorded in the manifest. */
  facts?: DatasetFacts;
  /**
   * The other formats, written and hashed (./formats.ts), or what writes them: called only once the
   * content is known to be new, so an unchanged run writes none. None by default.
   */
  formats?: readonly FormatFile[] | (() => Promise<readonly FormatFile[]>);
}

export interface PublishOptions {
  log?: Logger;
  /** The manifest as already read by the caller; re-read when omitted. */
  manifest?: Versioned<SnapshotManifest> | null;
  /** Stops before the manifest write when aborted. */
  signal?: AbortSignal;
  /** Publish a new version even when the content equals the current one (a forced rebuild). */
  force?: boolean;
  /** Lost manifest swaps tolerated before a "conflict". Default SWAP_ATTEMPTS (5). */
  attempts?: number;
}

export type PublishResult = { outcome: "ok" | "unchanged"; version: string; info: VersionInfo };

/** A publish input whose formats are written. */
type WrittenInput = Omit<PublishInput, "formats"> & { formats: readonly FormatFile[] };

/** The version info a plan makes. Pure. */
function versionInfo(input: WrittenInput): VersionInfo {
  const { plan } = input;
  return {
    version: makeVersionId(input.generatedAt, plan.hash),
    hash: plan.hash,
    generated_at: input.generatedAt.toISOString(),
    rows: plan.rows,
    bytes: plan.bytes,
    columns: input.columns,
    key: input.key,
    shards: plan.shardFiles.length,
    pages: plan.pages.map(({ first_row, rows, bytes, sha256 }) => ({ first_row, rows, bytes, sha256 })),
    formats: formatRecord(input.formats),
    ...(input.runId ? { run_id: input.runId } : {}),
  };
}

/**
 * Reads a shard file; with `check`, checks its keys are unique (the last check a decoded key gets
 * before upload: two JSON values may read as one key).
 */
async function readShard(file: string, shard: number, check: boolean): Promise<Buffer> {
  const bytes = await readFile(file);
  if (!check) return bytes;
  const seen = new Set<string>();
  const text = bytes.toString("utf8");
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf("\n", start);
    const key = text.slice(start, text.indexOf("\t", start));
    if (seen.has(key)) throw new EdgesnapError("gate-rejected", `gate: the key column has duplicate item key ${JSON.stringify(key.slice(0, 80))} (shard ${shard})`);
    seen.add(key);
    start = end < 0 ? text.length : end + 1;
  }
  return bytes;
}

async function uploadVersion(store: ObjectStore, dataset: string, info: VersionInfo, input: WrittenInput, signal?: AbortSignal): Promise<void> {
  const { plan } = input;
  const limit = pLimit(UPLOAD_CONCURRENCY);
  const checkStopped = () => {
    if (signal?.aborted) throw new EdgesnapError("internal", "run stopped before the manifest write");
  };
  const put = async (key: string, bytes: Uint8Array, sha256: string, contentType: string) => {
    checkStopped();
    await store.put(key, bytes, { contentType, sha256, customMetadata: { hash: info.hash } });
  };
  await Promise.all([
    ...plan.pages.map((page, index) =>
      limit(async () => put(pageObjectKey(dataset, info.version, index + 1), await readPage(plan.rowsFile, page), page.sha256, JSON_CONTENT_TYPE)),
    ),
    ...plan.shardFiles.map((file, shard) =>
      limit(async () => {
        const bytes = await readShard(file, shard, plan.decodedKeyShards.has(shard));
        await put(shardObjectKey(dataset, info.version, shard), bytes, sha256Hex(bytes), SHARD_CONTENT_TYPE);
      }),
    ),
    ...input.formats.map((file) =>
      limit(async () => {
        checkStopped();
        await uploadFormat(store, dataset, info.version, file, { hash: info.hash });
      }),
    ),
  ]);
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
  const log = options.log;
  let state: Versioned<SnapshotManifest> | null;
  try {
    state = options.manifest === undefined ? await readManifest(store, dataset) : options.manifest;
    if (!options.force && matchingVersion(state?.value ?? null, plan.hash)) {
      const confirmed = await confirmUnchanged(store, dataset, plan.hash, { facts: input.facts, now: input.generatedAt });
      // A concurrent publisher may have changed the current version since: then publish after all.
      if (confirmed) return { outcome: "unchanged", version: confirmed.version, info: confirmed };
    }
  } catch (error) {
    throw toEdgesnapError(error, "storage");
  }

  const written: WrittenInput = { ...input, formats: typeof input.formats === "function" ? await input.formats() : (input.formats ?? []) };
  const info = versionInfo(written);
  try {
    await uploadVersion(store, dataset, info, written, options.signal);
    log?.debug("uploaded version objects", { version: info.version, pages: info.pages.length, shards: info.shards, formats: Object.keys(info.formats) });
    if (options.signal?.aborted) throw new EdgesnapError("internal", "run stopped before the manifest write");
    const committed = await commitVersion(store, dataset, info, {
      force: options.force,
      facts: input.facts,
      now: input.generatedAt,
      attempts: options.attempts,
      manifest: state,
      onLostSwap: (attempt) => log?.info("manifest changed concurrently; retrying", { attempt }),
    });
    if (committed.outcome === "unchanged") {
      log?.info("a concurrent publisher published the same content first", { version: committed.info.version });
      await discardVersion(store, dataset, info.version);
    }
    return { outcome: committed.outcome, version: committed.info.version, info: committed.info };
  } catch (error) {
    // Deletes what was uploaded unless a manifest names it (a write whose answer was lost).
    await discardVersion(store, dataset, info.version).catch((cleanup: unknown) =>
      log?.warn("could not delete unpublished version objects", { version: info.version, error: cleanup }),
    );
    throw toEdgesnapError(error, "storage");
  }
}
