/**
 * Single items of keyed datasets: a lookup reads the item index shard that holds the key (its KV
 * hot copy, else R2; a delta shard first, then the base: contract/items.ts), then the record's bytes
 * from its page by an R2 range read, and answers them exactly as they are in the body. An item's
 * ETag is the sha256 of its own bytes, so a client revalidating an unchanged item gets 304 across
 * versions. (A schema-2 version's items are read from its record shards.)
 */
import { HTTPException } from "hono/http-exception";
import { itemShardObjectKey, legacyShardObjectKey } from "../../contract/keys.ts";
import { locateItem } from "../../contract/items.ts";
import { findItem, shardOf } from "../../contract/shards.ts";
import { sha256Of } from "../../contract/storage.ts";
import { pageKeyOf, type VersionIndex } from "../../contract/version-index.ts";
import type { AppContext } from "../env.ts";
import { freshnessSeconds, notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { quoted } from "../http/errors.ts";
import { checkObject, pageExpect, serveBytes } from "./bodies.ts";
import type { ResolvedVersion } from "./versions.ts";

/** An immutable object's text: its KV hot copy, else R2 (checked against its sha256 when known). */
async function readText(c: AppContext, key: string, sha256?: string): Promise<string> {
  const copy = await c.var.hot.text(key);
  if (copy !== null) return copy;
  const object = await c.var.store.get(key);
  checkObject(key, object, object === null || sha256 === undefined ? undefined : { size: object.size, sha256 });
  return object!.text();
}

/** The record of `key` in a version, as bytes, or null when the version has no such key. */
async function readRecord(c: AppContext, index: VersionIndex, key: string): Promise<Uint8Array | null> {
  const items = index.items!;
  if (items.kind === "record-shards") {
    const record = findItem(await readText(c, legacyShardObjectKey(index.dataset, index.version, shardOf(key, items.shards))), key);
    return record === null ? null : new TextEncoder().encode(record);
  }
  const location = await locateItem(items, key, (sha) => readText(c, itemShardObjectKey(index.dataset, sha), sha));
  if (location === null) return null;
  const pageKey = pageKeyOf(index, location.page);
  const object = await c.var.store.get(pageKey, { range: { offset: location.offset, length: location.length } });
  checkObject(pageKey, object, pageExpect(index, location.page));
  return new Uint8Array(await new Response(object!.body).arrayBuffer());
}

/** Serves one item of a keyed version. */
export async function serveItem(c: AppContext, version: ResolvedVersion, key: string, kind: UrlKind): Promise<Response> {
  const index = await version.index();
  if (index.key === null || index.items === null) {
    throw new HTTPException(404, { message: `dataset ${index.dataset} is not keyed, so it has no items` });
  }
  const bytes = await readRecord(c, index, key);
  if (bytes === null) throw new HTTPException(404, { message: `no item with key ${quoted(key)} in ${index.dataset}@${index.version}` });
  const etag = strongEtag(await sha256Of(bytes));
  const lastModified = new Date(index.generated_at);
  const headers = representationHeaders({ kind, dataset: index.dataset, etag, lastModified, version: index.version, contentLength: bytes.byteLength, freshness: freshnessSeconds(c.env) });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  return serveBytes(c, headers, bytes, { etag, lastModified });
}
