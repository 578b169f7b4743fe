/**
 * Deltas for clients: a version's index as a public document (its pages with hashes, first rows and
 * row counts, each with its by-hash URL) and `changes?since=<version>`: what a client holding
 * `since` must fetch to hold the current version. New pages are a diff of the two indexes; a keyed
 * dataset's added, changed and removed keys were worked out at publish time and are composed here
 * along the chain of versions between the two (backwards after a rollback). See contract/changes.ts.
 */
import { HTTPException } from "hono/http-exception";
import { composeKeyDeltas, invertKeyDelta, newPages, versionChain, type KeyDelta } from "../../contract/changes.ts";
import { keyChangesKey } from "../../contract/keys.ts";
import { findSummary, type HeadState } from "../../contract/head.ts";
import { isVersionId } from "../../contract/names.ts";
import { parseKeyChanges } from "../../contract/changes.ts";
import { sha256Of } from "../../contract/storage.ts";
import type { VersionIndex } from "../../contract/version-index.ts";
import type { AppContext } from "../env.ts";
import { freshnessSeconds, notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { quoted } from "../http/errors.ts";
import { loadIndex, requireCurrent, retainedOf, type ResolvedVersion } from "./versions.ts";

/** The URL of a page by its hash. */
export function pageUrl(dataset: string, sha256: string): string {
  return `/v1/datasets/${dataset}/pages/${sha256}`;
}

/** A version's index as clients read it. Pure. */
export function publicIndex(index: VersionIndex): Record<string, unknown> {
  return {
    dataset: index.dataset,
    version: index.version,
    hash: index.hash,
    generated_at: index.generated_at,
    rows: index.rows,
    bytes: index.bytes,
    key: index.key,
    columns: index.columns,
    pages: index.pages.map((page, i) => ({ n: i + 1, ...page, url: pageUrl(index.dataset, page.sha256) })),
    formats: Object.fromEntries(Object.entries(index.formats).map(([format, stored]) => [format, { bytes: stored.bytes, sha256: stored.sha256, url: `/v1/datasets/${index.dataset}/versions/${index.version}.${format}` }])),
    previous: index.previous,
    key_changes: index.key_changes,
  };
}

/** A JSON document with an ETag of its own bytes. */
async function jsonDocument(c: AppContext, value: unknown, kind: UrlKind, dataset: string, version: string, lastModified: Date): Promise<Response> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const etag = strongEtag(await sha256Of(bytes));
  const headers = representationHeaders({ kind, dataset, etag, lastModified, version, contentLength: bytes.byteLength, freshness: freshnessSeconds(c.env) });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  return new Response(c.req.method === "HEAD" ? null : bytes, { headers });
}

/** Serves a version's index document. */
export async function serveIndex(c: AppContext, version: ResolvedVersion, kind: UrlKind): Promise<Response> {
  const index = await version.index();
  return jsonDocument(c, publicIndex(index), kind, index.dataset, index.version, new Date(index.generated_at));
}

/** Why key changes cannot be given, or the composed delta. */
type KeysAnswer = { keys: KeyDelta; reason: null } | { keys: null; reason: string };

/** The key changes from `since` to `current`, composed from what each publish recorded. */
async function composedKeys(c: AppContext, state: HeadState, since: VersionIndex, current: VersionIndex): Promise<KeysAnswer> {
  if (current.key === null) return { keys: null, reason: "the dataset is not keyed" };
  if (since.key !== current.key) return { keys: null, reason: "the key column changed between the versions" };
  if (since.version === current.version) return { keys: { added: [], changed: [], removed: [] }, reason: null };
  const storage = { store: c.var.store, hot: c.var.hot };
  const indexOf = (version: string) => (findSummary(state.head, version) ? loadIndex(storage, state, version) : Promise.resolve(null));
  const previousOf = async (version: string) => (await indexOf(version))?.previous ?? null;
  let chain = await versionChain(since.version, current.version, previousOf);
  let backwards = false;
  if (chain === null) {
    const reverse = await versionChain(current.version, since.version, previousOf);
    if (reverse === null) return { keys: null, reason: "the versions are not linked by publishes the head retains" };
    chain = reverse;
    backwards = true;
  }
  const deltas: KeyDelta[] = [];
  for (const version of chain) {
    const index = await indexOf(version);
    if (index?.key_changes?.listed !== true) return { keys: null, reason: `the changes of ${version} were too many to list; fetch the new pages` };
    const object = await c.var.store.get(keyChangesKey(state.head.dataset, version));
    if (object === null) return { keys: null, reason: `the changes of ${version} are not stored` };
    deltas.push(parseKeyChanges(await object.text()));
  }
  const composed = composeKeyDeltas(deltas);
  return { keys: backwards ? invertKeyDelta(composed) : composed, reason: null };
}

/**
 * Serves what a client holding `since` must fetch to hold the current version.
 * @throws {HTTPException} 400 for a missing or malformed `since`; 410 when it is no longer retained
 */
export async function serveChanges(c: AppContext, dataset: string): Promise<Response> {
  const since = c.req.query("since") ?? "";
  if (!isVersionId(since)) throw new HTTPException(400, { message: `changes needs ?since=<version id>; got ${quoted(since)}` });
  const current = await requireCurrent(c, dataset);
  if (findSummary(current.state.head, since) === undefined) {
    throw new HTTPException(410, { message: `version ${since} of ${dataset} is no longer retained; fetch the current version whole (its index lists every page)` });
  }
  const storage = { store: c.var.store, hot: c.var.hot };
  const sinceIndex = await loadIndex(storage, current.state, retainedOf(current.state, since).version);
  const currentIndex = await current.index();
  const { pages, kept } = newPages(sinceIndex, currentIndex);
  const keys = await composedKeys(c, current.state, sinceIndex, currentIndex);
  const answer = {
    dataset,
    since,
    version: currentIndex.version,
    hash: currentIndex.hash,
    rows: currentIndex.rows,
    bytes: currentIndex.bytes,
    index: `/v1/datasets/${dataset}/versions/${currentIndex.version}/index`,
    pages: { total: currentIndex.pages.length, kept, new_bytes: pages.reduce((sum, page) => sum + page.bytes, 0), new: pages.map((page) => ({ ...page, url: pageUrl(dataset, page.sha256) })) },
    keys: keys.keys,
    ...(keys.reason === null ? {} : { keys_unavailable: keys.reason }),
  };
  return jsonDocument(c, answer, "current", dataset, currentIndex.version, new Date(currentIndex.generated_at));
}
