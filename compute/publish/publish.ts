/**
 * The publish protocol. R2 is the source of truth and readers trust the manifest, so the order is
 * what makes a publish safe:
 * 1. upload every object of the new version (body, item shards) under its own immutable prefix;
 * 2. write the dataset's manifest LAST, by compare-and-swap on the etag read before (If-Match), or
 *    create-only (If-None-Match: *) for a first publish;
 * 3. on a lost swap, re-read the manifest and retry (re-checking "unchanged": a concurrent publisher
 *    may just have published the same content).
 * A reader that sees a version in the manifest can rely on its objects being there. A publish that
 * fails after step 1 leaves only unreferenced objects, which it deletes best effort.
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#conditional-operations
 */
import { createHash } from "node:crypto";
import {
  bodyObjectKey,
  currentVersion,
  makeVersionId,
  manifestObjectKey,
  parseManifest,
  shardObjectKey,
  withPublishedVersion,
  type Column,
  type SnapshotManifest,
  type VersionInfo,
} from "../../contract/index.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import type { Logger } from "../run/logger.ts";
import type { SnapshotStore } from "../storage/index.ts";
import { buildItemShards } from "./shards.ts";

export const JSON_CONTENT_TYPE = "application/json";

/** How many times a manifest compare-and-swap is tried before giving up with "conflict". */
export const DEFAULT_PUBLISH_ATTEMPTS = 5;

/** Uploads in flight at once (a large keyed version has up to MAX_SHARDS shards). */
const UPLOAD_CONCURRENCY = 8;

/** A manifest as read, with the etag to compare-and-swap against. */
export interface ManifestState {
  manifest: SnapshotManifest;
  etag: string;
}

export interface PublishInput {
  dataset: string;
  /** The serialized body (a JSON array of records). */
  body: Uint8Array;
  /** sha256 hex of `body` (see sha256Hex). */
  hash: string;
  rows: number;
  columns: Column[];
  /** Key column of a keyed dataset: item shards are written too. */
  key: string | null;
  /** When the build finished: the version's generated_at and the time part of its id. */
  generatedAt: Date;
  runId?: string;
}

export interface PublishOptions {
  log?: Logger;
  /** Default DEFAULT_PUBLISH_ATTEMPTS. */
  attempts?: number;
  /** The manifest as already read by the caller; re-read when omitted. */
  manifest?: ManifestState | null;
  /** Stops before the manifest write when aborted. */
  signal?: AbortSignal;
  /** Publish a new version even when the content equals the current one (a forced rebuild). */
  force?: boolean;
}

export type PublishResult =
  | { outcome: "ok"; version: string; info: VersionInfo }
  | { outcome: "unchanged"; version: string; info: VersionInfo };

/** Lowercase hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Reads a dataset's manifest with its etag.
 * @returns null when the dataset was never published
 * @throws {EdgesnapError} "storage" when the manifest exists but is not valid
 */
export async function readManifest(store: SnapshotStore, dataset: string): Promise<ManifestState | null> {
  const object = await store.get(manifestObjectKey(dataset));
  if (!object) return null;
  try {
    return { manifest: parseManifest(await object.text()), etag: object.etag };
  } catch (error) {
    throw new EdgesnapError("storage", `manifest of ${dataset}: ${(error as Error).message}`, { cause: error });
  }
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

async function mapLimited<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
}

/**
 * Publishes a snapshot: uploads the version's objects, then swaps the manifest (see the module
 * comment). Content equal to the current version's publishes nothing.
 * @throws {EdgesnapError} "conflict" after `attempts` lost swaps; "storage" on store failures;
 *   "gate-rejected" when an item key is invalid. Nothing is published when it throws.
 */
export async function publishSnapshot(store: SnapshotStore, input: PublishInput, options: PublishOptions = {}): Promise<PublishResult> {
  const { dataset, hash } = input;
  const log = options.log;
  let state = options.manifest === undefined ? await readManifest(store, dataset) : options.manifest;
  const already = options.force ? undefined : matchingVersion(state?.manifest ?? null, hash);
  if (already) return { outcome: "unchanged", version: already.version, info: already };

  const version = makeVersionId(input.generatedAt, hash);
  const shards = input.key === null ? [] : buildItemShards(input.body, input.key);
  const info: VersionInfo = {
    version,
    hash,
    generated_at: input.generatedAt.toISOString(),
    rows: input.rows,
    bytes: input.body.byteLength,
    columns: input.columns,
    key: input.key,
    shards: shards.length,
    ...(input.runId ? { run_id: input.runId } : {}),
  };

  const uploaded: string[] = [];
  // A manifest write that failed other than by a lost swap may still have landed (a lost
  // response); its objects may then be referenced and must stay.
  let manifestMayHaveLanded = false;
  const discardUploads = async () => {
    if (uploaded.length === 0 || manifestMayHaveLanded) return;
    try {
      // A concurrent publisher of the same content in the same millisecond made the same version
      // id, so these keys may be its published objects: never delete what a manifest names.
      const latest = await readManifest(store, dataset);
      if (latest?.manifest.versions.some((v) => v.version === version)) return;
      await store.delete(uploaded);
    } catch (error) {
      log?.warn("could not delete unpublished version objects", { version, error });
    }
  };

  try {
    const objects = [
      {
        key: bodyObjectKey(dataset, version),
        bytes: input.body,
        sha256: hash,
        customMetadata: { hash, generated_at: info.generated_at, rows: String(input.rows) },
      },
      ...shards.map((bytes, shard) => ({ key: shardObjectKey(dataset, version, shard), bytes, sha256: sha256Hex(bytes), customMetadata: { hash } })),
    ];
    await mapLimited(objects, UPLOAD_CONCURRENCY, async (object) => {
      await store.put(object.key, object.bytes, {
        contentType: JSON_CONTENT_TYPE,
        sha256: object.sha256,
        customMetadata: object.customMetadata,
      });
      uploaded.push(object.key);
    });
    log?.debug("uploaded version objects", { version, objects: objects.length });

    const attempts = options.attempts ?? DEFAULT_PUBLISH_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      if (options.signal?.aborted) throw new EdgesnapError("internal", "run stopped before the manifest write");
      const next = withPublishedVersion(state?.manifest ?? null, dataset, info, new Date());
      const text = JSON.stringify(next);
      try {
        await store.put(manifestObjectKey(dataset), text, {
          contentType: JSON_CONTENT_TYPE,
          sha256: sha256Hex(text),
          ...(state ? { ifMatch: state.etag } : { ifNoneMatch: "*" as const }),
        });
        return { outcome: "ok", version, info };
      } catch (error) {
        if (!(error instanceof EdgesnapError) || error.code !== "conflict") {
          manifestMayHaveLanded = true;
          throw error;
        }
        if (attempt >= attempts) {
          throw new EdgesnapError("conflict", `manifest of ${dataset} changed concurrently ${attempts} times; gave up`, { cause: error });
        }
        log?.info("manifest changed concurrently; retrying", { attempt });
        state = await readManifest(store, dataset);
        const concurrent = options.force ? undefined : matchingVersion(state?.manifest ?? null, hash);
        if (concurrent) {
          await discardUploads();
          return { outcome: "unchanged", version: concurrent.version, info: concurrent };
        }
      }
    }
  } catch (error) {
    await discardUploads();
    throw toEdgesnapError(error, "storage");
  }
}
