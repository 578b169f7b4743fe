/**
 * How a read finds what it serves: the dataset's head, read from R2 on every miss of the edge cache
 * (strongly consistent, a few KiB), then the version's index, which is immutable and therefore read
 * from the first place that has it: this isolate's memory, a KV hot copy, then R2 (copying it into
 * KV for the next isolate). Indexes parsed once stay in a small in-memory map bounded by their
 * text's size: an index never changes, so a copy can never be stale.
 */
import { HTTPException } from "hono/http-exception";
import { manifestObjectKey, versionIndexKey } from "../../contract/keys.ts";
import { currentSummary, findSummary, parseHeadText, type HeadState, type VersionSummary } from "../../contract/head.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";

import { parseVersionIndex, type VersionIndex } from "../../contract/version-index.ts";
import type { AppContext, EdgeStorage } from "../env.ts";
import { executionContextOf } from "./cache.ts";

/** Bytes of index text kept parsed in one isolate. */
const INDEX_MEMORY_BYTES = 8 * 1024 * 1024;

/** Parsed indexes by storage key, least recently used first. */
const parsed = new Map<string, { index: VersionIndex; bytes: number }>();
let parsedBytes = 0;

function remember(key: string, index: VersionIndex, bytes: number): void {
  if (bytes > INDEX_MEMORY_BYTES / 4) return;
  parsed.set(key, { index, bytes });
  parsedBytes += bytes;
  for (const [oldest, entry] of parsed) {
    if (parsedBytes <= INDEX_MEMORY_BYTES) break;
    parsed.delete(oldest);
    parsedBytes -= entry.bytes;
  }
}

function recall(key: string): VersionIndex | undefined {
  const entry = parsed.get(key);
  if (entry === undefined) return undefined;
  parsed.delete(key);
  parsed.set(key, entry);
  return entry.index;
}

/** Forgets every parsed index and head (tests that rewrite storage under the same keys). */
export function forgetParsedIndexes(): void {
  parsed.clear();
  parsedBytes = 0;
  parsedHeads.clear();
}

function parseOrCorrupt(key: string, text: string, dataset: string, version: string): VersionIndex {
  let index: VersionIndex;
  try {
    index = parseVersionIndex(text);
  } catch (error) {
    throw new ProtocolError("corrupt", `${key} is unreadable: ${(error as Error).message}`, { cause: error });
  }
  if (index.dataset !== dataset || index.version !== version) throw new ProtocolError("corrupt", `${key} describes ${index.dataset}@${index.version}`);
  return index;
}

/**
 * The index of a version the head retains: the schema-2 manifest's own description of it, or the
 * first copy found in memory, KV or R2.
 * @param copy stores a KV copy after an R2 read (the request's waitUntil); none when omitted
 * @throws {ProtocolError} "corrupt" (503) when the index is missing or unreadable
 */
export async function loadIndex(storage: EdgeStorage, state: HeadState, version: string, copy?: (work: Promise<unknown>) => void): Promise<VersionIndex> {
  const dataset = state.head.dataset;
  const legacy = state.legacy?.get(version);
  if (legacy !== undefined) return legacy;
  const key = versionIndexKey(dataset, version);
  const known = recall(key);
  if (known !== undefined) return known;
  let text = await storage.hot.text(key);
  const fromKv = text !== null;
  if (text === null) {
    const object = await storage.store.get(key);
    if (object === null) throw new ProtocolError("corrupt", `${key} is named by the head but missing`);
    text = await object.text();
  }
  const index = parseOrCorrupt(key, text, dataset, version);
  remember(key, index, text.length);
  if (!fromKv) copy?.(storage.hot.put(key, text).catch(() => {}));
  return index;
}

/** Heads parsed in this isolate, by dataset, with the etag of the object they were parsed from. */
const parsedHeads = new Map<string, { etag: string; state: HeadState }>();
/** Datasets whose parsed head this isolate keeps (one small object each). */
const MAX_PARSED_HEADS = 1000;

/**
 * The dataset's head, read from R2 (strongly consistent) on every miss of the edge cache. The
 * object is read every time; only its parsing is skipped when its etag is the one this isolate
 * parsed last, so no answer ever rests on a head older than R2's.
 * @throws {HTTPException} 404 when the dataset was never published
 * @throws {ProtocolError} "corrupt" (503) when its head is unreadable
 */
export async function requireHead(c: AppContext, dataset: string): Promise<HeadState> {
  const key = manifestObjectKey(dataset);
  const object = await c.var.store.get(key);
  if (object === null) throw new HTTPException(404, { message: `unknown dataset ${dataset}` });
  const known = parsedHeads.get(dataset);
  if (known !== undefined && known.etag === object.etag) {
    await object.body.cancel();
    return known.state;
  }
  let state: HeadState;
  try {
    state = parseHeadText(await object.text());
  } catch (error) {
    throw new ProtocolError("corrupt", `${key} is unreadable: ${(error as Error).message}`, { cause: error });
  }
  if (parsedHeads.size >= MAX_PARSED_HEADS) parsedHeads.delete(parsedHeads.keys().next().value!);
  parsedHeads.set(dataset, { etag: object.etag, state });
  return state;
}

/** The head's current version. @throws {HTTPException} 404 before the first publish */
export function currentOf(state: HeadState): VersionSummary {
  const summary = currentSummary(state.head);
  if (summary === undefined) throw new HTTPException(404, { message: `dataset ${state.head.dataset} has no published version yet` });
  return summary;
}

/** A version the head retains. @throws {HTTPException} 404 for any other */
export function retainedOf(state: HeadState, version: string): VersionSummary {
  const summary = findSummary(state.head, version);
  if (summary === undefined) throw new HTTPException(404, { message: `unknown version ${version} of dataset ${state.head.dataset}` });
  return summary;
}

/** What a route serves: the head, the version's summary line, and (lazily) its index. */
export interface ResolvedVersion {
  state: HeadState;
  summary: VersionSummary;
  index(): Promise<VersionIndex>;
}

function resolved(c: AppContext, state: HeadState, summary: VersionSummary): ResolvedVersion {
  let loading: Promise<VersionIndex> | undefined;
  const ctx = executionContextOf(c);
  return {
    state,
    summary,
    index: () => (loading ??= loadIndex({ store: c.var.store, hot: c.var.hot }, state, summary.version, ctx ? (work) => ctx.waitUntil(work) : undefined)),
  };
}

/** The current version of a dataset. @throws {HTTPException} 404 */
export async function requireCurrent(c: AppContext, dataset: string): Promise<ResolvedVersion> {
  const state = await requireHead(c, dataset);
  return resolved(c, state, currentOf(state));
}

/** A retained version of a dataset. @throws {HTTPException} 404 */
export async function requireVersion(c: AppContext, dataset: string, version: string): Promise<ResolvedVersion> {
  const state = await requireHead(c, dataset);
  return resolved(c, state, retainedOf(state, version));
}
