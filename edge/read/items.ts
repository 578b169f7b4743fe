/**
 * Single items of keyed datasets: one lookup reads the one bounded shard that holds the key (its KV
 * hot copy, else R2) and answers the record's bytes exactly as they are in the body.
 */
import { HTTPException } from "hono/http-exception";
import { shardObjectKey } from "../../contract/keys.ts";
import type { VersionInfo } from "../../contract/manifest.ts";
import { findItem, fnv1a32, shardOf } from "../../contract/shards.ts";
import type { AppContext } from "../env.ts";
import { notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { ifNoneMatchMatches, isNotModified, strongEtag } from "../http/conditional.ts";
import { quoted } from "../http/errors.ts";

/** An item's entity tag: changes with the version's content hash and differs per key. */
export function itemEtag(info: VersionInfo, key: string): string {
  return strongEtag(`${info.hash.slice(0, 32)}-${fnv1a32(key).toString(16).padStart(8, "0")}`);
}

async function readShard(c: AppContext, dataset: string, version: string, shard: number): Promise<string> {
  const key = shardObjectKey(dataset, version, shard);
  const copy = await c.var.hot.text(key);
  if (copy !== null) return copy;
  const object = await c.var.store.get(key);
  if (object === null) throw new Error(`${key} is named by the manifest but missing from R2`);
  return object.text();
}

/** Serves one item of a keyed version. */
export async function serveItem(c: AppContext, dataset: string, info: VersionInfo, key: string, kind: UrlKind): Promise<Response> {
  if (info.key === null || info.shards === 0) {
    throw new HTTPException(404, { message: `dataset ${dataset} is not keyed, so it has no items` });
  }
  const etag = itemEtag(info, key);
  const lastModified = new Date(info.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: info.version });
  const ifNoneMatch = c.req.header("If-None-Match");
  // "*" matches only if the item exists, which needs the shard; any other tag can be decided now.
  if (ifNoneMatch?.trim() !== "*" && isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  const record = findItem(await readShard(c, dataset, info.version, shardOf(key, info.shards)), key);
  if (record === null) throw new HTTPException(404, { message: `no item with key ${quoted(key)} in ${dataset}@${info.version}` });
  if (ifNoneMatchMatches(ifNoneMatch, etag)) return notModifiedResponse(headers);
  const bytes = new TextEncoder().encode(record);
  headers.set("Content-Length", String(bytes.byteLength));
  return new Response(c.req.method === "HEAD" ? null : bytes, { headers });
}
