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
import { errorBody, quoted } from "../http/errors.ts";
import { decideRange, partialHeaders, sliceParts, type Part, type RangeDecision } from "../http/range.ts";
import { executionContextOf } from "./cache.ts";
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

/**
 * Streams `parts` one after the other (object ranges read from R2 as they are reached, texts as
 * they are). The first object part is opened before the stream is returned, so a missing object is
 * an error status, not a cut body.
 */
export async function concatenated(storage: EdgeStorage, parts: readonly Part[]): Promise<ReadableStream<Uint8Array>> {
  const encoder = new TextEncoder();
  let next = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const open = async (part: Part) => ("key" in part ? openRange(storage, part.key, part.offset, part.length) : undefined);
  const firstObject = parts.findIndex((part) => "key" in part);
  const opened = firstObject < 0 ? undefined : await open(parts[firstObject]!);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (reader === undefined) {
          if (next >= parts.length) return controller.close();
          const index = next++;
          const part = parts[index]!;
          if (!("key" in part)) {
            const bytes = "text" in part ? encoder.encode(part.text) : part.bytes;
            if (bytes.byteLength > 0) return controller.enqueue(bytes);
            continue;
          }
          reader = index === firstObject ? opened : await open(part);
        }
        const { done, value } = await reader!.read();
        if (!done) return controller.enqueue(value);
        reader = undefined;
      }
    },
    async cancel(reason) {
      await (reader ?? (next <= firstObject ? opened : undefined))?.cancel(reason);
    },
  });
}

/**
 * Bytes above which Workers Cache does not store a response (512 MB on every plan at launch):
 * below it, a ranged request that reaches the Worker gets the whole 200, which the cache stores and
 * slices itself for this and later ranges. https://developers.cloudflare.com/workers/cache/
 */
export const WORKERS_CACHE_MAX_BYTES = 512 * 1000 * 1000;

/** The range to answer: none where Workers Cache stands in front and can keep the whole representation. */
export function rangeFor(c: AppContext, length: number, validators: { etag: string; lastModified: Date }): RangeDecision {
  if (executionContextOf(c)?.cache !== undefined && length <= WORKERS_CACHE_MAX_BYTES) return { kind: "full" };
  return decideRange(c.req.method, c.req.raw.headers, length, validators);
}

/** The 416 of a range past the end (RFC 9110 §15.5.17), with the representation's length. */
export function unsatisfiableRange(c: AppContext, length: number): Response {
  return c.json(errorBody(416, `the range is not satisfiable: the representation has ${length} bytes`), 416, { "Content-Range": `bytes */${length}`, "Accept-Ranges": "bytes" });
}

/**
 * Answers a representation made of `parts` (`length` bytes in all) with `headers`: the whole of
 * it, or the one range the request asks for (206, reading only the parts it spans), or a 416.
 */
export async function serveParts(c: AppContext, headers: Headers, parts: readonly Part[], length: number, validators: { etag: string; lastModified: Date }): Promise<Response> {
  headers.set("Accept-Ranges", "bytes");
  const range = rangeFor(c, length, validators);
  if (range.kind === "unsatisfiable") return unsatisfiableRange(c, length);
  const storage = { store: c.var.store, hot: c.var.hot };
  if (range.kind === "partial") {
    const body = await concatenated(storage, sliceParts(parts, range.start, range.end));
    return new Response(withLength(body, range.end - range.start + 1), { status: 206, headers: partialHeaders(headers, range.start, range.end, length) });
  }
  // One whole object: its KV hot copy when there is one.
  const only = parts.length === 1 ? parts[0]! : undefined;
  const whole = only !== undefined && "key" in only && only.offset === 0 && only.length === length;
  const body = whole ? await openImmutable(storage, only.key) : await concatenated(storage, parts);
  return new Response(withLength(body, length), { headers });
}

/** A reader of `length` bytes of an object from `offset` (an R2 range read). */
export async function openRange({ store }: EdgeStorage, key: string, offset: number, length: number): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const object = await store.get(key, { range: { offset, length } });
  if (object === null) throw new Error(`${key} is named by an index but missing from R2`);
  return object.body.getReader();
}

/** Answers bytes already in memory (an item, a document): the whole of them, one range of them, or a 416. */
export function serveBytes(c: AppContext, headers: Headers, bytes: Uint8Array, validators: { etag: string; lastModified: Date }): Response {
  headers.set("Accept-Ranges", "bytes");
  headers.set("Content-Length", String(bytes.byteLength));
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const range = rangeFor(c, bytes.byteLength, validators);
  if (range.kind === "unsatisfiable") return unsatisfiableRange(c, bytes.byteLength);
  if (range.kind === "partial") return new Response(bytes.subarray(range.start, range.end + 1), { status: 206, headers: partialHeaders(headers, range.start, range.end, bytes.byteLength) });
  return new Response(bytes, { headers });
}

/** The full body as parts: the pages joined (a comma and R2 range reads), or page 1 as it is. */
export function bodyParts(index: VersionIndex): Part[] {
  return bodySegments(index.pages).flatMap((segment): Part[] => [
    ...(segment.before ? [{ text: segment.before }] : []),
    { key: pageKeyOf(index, segment.page), offset: segment.offset, length: segment.length },
  ]);
}

/** Serves a version's full body: 304 and HEAD from the head, else streamed. */
export async function serveBody(c: AppContext, version: ResolvedVersion, kind: UrlKind): Promise<Response> {
  const { summary } = version;
  const etag = strongEtag(summary.hash);
  const lastModified = new Date(summary.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: summary.version, contentLength: summary.bytes });
  headers.set("Accept-Ranges", "bytes");
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  return serveParts(c, headers, bodyParts(await version.index()), summary.bytes, { etag, lastModified });
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
  headers.set("Accept-Ranges", "bytes");
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  return serveParts(c, headers, [{ key: pageKeyOf(index, page - 1), offset: 0, length: stored.bytes }], stored.bytes, { etag, lastModified });
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
  headers.set("Accept-Ranges", "bytes");
  const notModified = isNotModified(c.req.raw.headers, etag, object.uploaded);
  const range = rangeFor(c, object.size, { etag, lastModified: object.uploaded });
  if (notModified || c.req.method === "HEAD" || range.kind !== "full") {
    await object.body.cancel();
    if (notModified) return notModifiedResponse(headers);
    if (c.req.method === "HEAD") return new Response(null, { headers });
    return serveParts(c, headers, [{ key: pageObjectKey(dataset, sha256), offset: 0, length: object.size }], object.size, { etag, lastModified: object.uploaded });
  }
  return new Response(withLength(object.body, object.size), { headers });
}
