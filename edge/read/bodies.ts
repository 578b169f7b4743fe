/**
 * Snapshot bodies and pages. A version is stored as content-addressed pages; a page is served as
 * stored, and the full body is the pages streamed in order with the bytes `bodySegments` names (R2
 * range reads, so the Worker never parses, buffers or rewrites a body of any size). Conditional
 * requests and HEAD on a body are answered from the head's summary line before the index or any
 * page is read.
 */
import { HTTPException } from "hono/http-exception";
import { pageObjectKey } from "../../contract/keys.ts";
import { bodySegments, pageKeyOf, type VersionIndex } from "../../contract/version-index.ts";
import type { AppContext, EdgeStorage } from "../env.ts";
import { notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { quoted } from "../http/errors.ts";
import type { ResolvedVersion } from "./versions.ts";

/** The readable side of a stream that carries exactly `bytes` bytes, so Content-Length holds. */
export function withLength(body: ReadableStream<Uint8Array>, bytes: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new FixedLengthStream(bytes);
  body.pipeTo(writable).catch(() => {});
  return readable as ReadableStream<Uint8Array>;
}

/** Opens an immutable object: its KV hot copy when there is one, else R2. */
export async function openImmutable({ store, hot }: EdgeStorage, key: string): Promise<ReadableStream<Uint8Array>> {
  const copy = await hot.stream(key);
  if (copy !== null) return copy;
  const object = await store.get(key);
  if (object === null) throw new Error(`${key} is named by an index but missing from R2`);
  return object.body;
}

/** Streams `parts` one after the other: each a storage key with a byte range, after a text. */
export function concatenated(storage: EdgeStorage, parts: readonly { key: string; before: string; offset: number; length: number }[], first: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 1;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined = first;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (reader === undefined) {
          if (next >= parts.length) return controller.close();
          const part = parts[next++]!;
          reader = await openRange(storage, part.key, part.offset, part.length);
          if (part.before) return controller.enqueue(encoder.encode(part.before));
        }
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value);
        reader = undefined;
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
}

/** A reader of `length` bytes of an object from `offset` (an R2 range read). */
export async function openRange({ store }: EdgeStorage, key: string, offset: number, length: number): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const object = await store.get(key, { range: { offset, length } });
  if (object === null) throw new Error(`${key} is named by an index but missing from R2`);
  return object.body.getReader();
}

/** The full body: page 1 as it is when there is one page, else the pages joined by R2 range reads. */
async function openBody(storage: EdgeStorage, index: VersionIndex): Promise<ReadableStream<Uint8Array>> {
  if (index.pages.length === 1) return openImmutable(storage, pageKeyOf(index, 0));
  const parts = bodySegments(index.pages).map((segment) => ({ key: pageKeyOf(index, segment.page), before: segment.before, offset: segment.offset, length: segment.length }));
  // The first page is opened before answering, so a missing object is an error status, not a cut body.
  const first = await openRange(storage, parts[0]!.key, parts[0]!.offset, parts[0]!.length);
  return concatenated(storage, parts, first);
}

/** Serves a version's full body: 304 and HEAD from the head, else streamed. */
export async function serveBody(c: AppContext, version: ResolvedVersion, kind: UrlKind): Promise<Response> {
  const { summary } = version;
  const etag = strongEtag(summary.hash);
  const lastModified = new Date(summary.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: summary.version, contentLength: summary.bytes });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const body = await openBody({ store: c.var.store, hot: c.var.hot }, await version.index());
  return new Response(withLength(body, summary.bytes), { headers });
}

/** Parses a page number from the URL. @throws {HTTPException} 400 for anything but 1, 2, 3... */
export function pageNumber(raw: string | undefined): number {
  const page = Number(raw);
  if (!/^[1-9]\d{0,8}$/.test(raw ?? "")) throw new HTTPException(400, { message: `malformed page number ${quoted(raw ?? "")}` });
  return page;
}

/** Whether a route's page parameter names a page by its sha256 rather than its number. */
export function isPageHash(raw: string | undefined): boolean {
  return /^[0-9a-f]{64}$/.test(raw ?? "");
}

/**
 * RFC 8288 links to the first, previous, next and last pages, always at the versioned URL: a client
 * following them from a current page stays on one version even when a new one is published.
 */
export function pageLinks(dataset: string, version: string, page: number, pages: number): string {
  const url = (n: number) => `</v1/datasets/${dataset}/versions/${version}/pages/${n}>`;
  const links = [`${url(1)}; rel="first"`];
  if (page > 1) links.push(`${url(page - 1)}; rel="prev"`);
  if (page < pages) links.push(`${url(page + 1)}; rel="next"`);
  links.push(`${url(pages)}; rel="last"`);
  return links.join(", ");
}

/** Serves page `page` of a version: a JSON array of whole rows, with its own ETag and Link header. */
export async function servePage(c: AppContext, version: ResolvedVersion, page: number, kind: UrlKind): Promise<Response> {
  const index = await version.index();
  const stored = index.pages[page - 1];
  if (stored === undefined) {
    throw new HTTPException(404, { message: `page ${page} of ${index.dataset}@${index.version} does not exist (it has ${index.pages.length})` });
  }
  const etag = strongEtag(stored.sha256);
  const lastModified = new Date(index.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: index.version, contentLength: stored.bytes });
  headers.set("Link", pageLinks(index.dataset, index.version, page, index.pages.length));
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const body = await openImmutable({ store: c.var.store, hot: c.var.hot }, pageKeyOf(index, page - 1));
  return new Response(withLength(body, stored.bytes), { headers });
}

/**
 * Serves a page by its sha256 (`/v1/datasets/:name/pages/<sha256>`): the same bytes at one URL for
 * every version that holds the page, so a new version reuses the cache for each unchanged page.
 * Immutable; answers while any stored object has that name (a page that is no longer retained stays
 * readable until it is collected).
 * @throws {HTTPException} 404 when no such page is stored
 */
export async function servePageByHash(c: AppContext, dataset: string, sha256: string): Promise<Response> {
  const etag = strongEtag(sha256);
  const object = await c.var.store.get(pageObjectKey(dataset, sha256));
  if (object === null) throw new HTTPException(404, { message: `no page ${sha256} is stored for ${dataset}` });
  const headers = representationHeaders({ kind: "versioned", etag, lastModified: object.uploaded, contentLength: object.size });
  const notModified = isNotModified(c.req.raw.headers, etag, object.uploaded);
  if (notModified || c.req.method === "HEAD") {
    await object.body.cancel();
    return notModified ? notModifiedResponse(headers) : new Response(null, { headers });
  }
  return new Response(withLength(object.body, object.size), { headers });
}
