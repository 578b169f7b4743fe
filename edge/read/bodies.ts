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
import { freshnessSeconds, notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { errorBody, quoted } from "../http/errors.ts";
import { decideRange, partialHeaders, sliceParts, type Expected, type Part, type RangeDecision } from "../http/range.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { toHex, type ObjectInfo, type StoredObject } from "../../contract/storage.ts";
import { executionContextOf } from "./cache.ts";
import type { ResolvedVersion } from "./versions.ts";
import { log, errorFields } from "../log.ts";

/** The readable side of a stream that carries exactly `bytes` bytes, so Content-Length holds. */
export function withLength(body: ReadableStream<Uint8Array>, bytes: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new FixedLengthStream(bytes);
  body.pipeTo(writable).catch(() => {});
  return readable as ReadableStream<Uint8Array>;
}

/** The error of a stored object that is not what its index says (answered 503, logged with its key). */
export function corruptObject(message: string): ProtocolError {
  return new ProtocolError("corrupt", message);
}

/**
 * Checks an object as stored against what the index says it is, before any byte is sent: its size,
 * and its sha256 where the store keeps a checksum of it.
 * @throws {ProtocolError} "corrupt" for a missing object or one that differs
 */
export function checkObject(key: string, object: ObjectInfo | null, expect?: Expected): void {
  if (object === null) throw corruptObject(`${key} is named by an index but missing from R2`);
  if (expect === undefined) return;
  if (object.size !== expect.size) throw corruptObject(`${key} holds ${object.size} bytes; its index says ${expect.size}`);
  if (expect.sha256 !== undefined && object.sha256 !== undefined && object.sha256 !== expect.sha256) {
    throw corruptObject(`${key} holds bytes whose sha256 is ${object.sha256}; its index says ${expect.sha256}`);
  }
}

/**
 * A whole object's bytes, hashed as they pass, for an object the store keeps no checksum of: the
 * last chunk is held until the hash is known, so bytes that do not match never all reach the
 * client, which sees the answer cut (and no cache keeps it).
 */
export function verifiedStream(key: string, body: ReadableStream<Uint8Array>, sha256: string): ReadableStream<Uint8Array> {
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  let held: Uint8Array | undefined;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await writer.write(chunk);
        if (held !== undefined) controller.enqueue(held);
        held = chunk;
      },
      async flush(controller) {
        await writer.close();
        const actual = toHex(await digest.digest);
        if (actual !== sha256) {
          const error = corruptObject(`${key} holds bytes whose sha256 is ${actual}; its index says ${sha256}`);
          logCorrupt(error);
          controller.error(error);
          return;
        }
        if (held !== undefined) controller.enqueue(held);
      },
    }),
  );
}

/**
 * Objects up to this size that the store keeps no checksum of are read whole and hashed before the
 * answer starts (a page is at most 16 MiB); larger ones are hashed as they pass.
 */
const VERIFY_BEFORE_BYTES = 16 * 1024 * 1024;

/**
 * The bytes of an object the store keeps no checksum of, checked before anything is sent when it is
 * small enough, else as they pass (`verifiedStream`).
 * @throws {ProtocolError} "corrupt" when the bytes do not match
 */
async function checkedBody(key: string, object: StoredObject, sha256: string): Promise<ReadableStream<Uint8Array>> {
  if (object.size > VERIFY_BEFORE_BYTES) return verifiedStream(key, object.body, sha256);
  const bytes = new Uint8Array(await new Response(object.body).arrayBuffer());
  const actual = toHex(await crypto.subtle.digest("SHA-256", bytes));
  if (actual !== sha256) throw corruptObject(`${key} holds bytes whose sha256 is ${actual}; its index says ${sha256}`);
  return new Response(bytes).body!;
}

/** Logs a stored object found not to be what its index says, once per answer it cut. */
function logCorrupt(error: unknown): void {
  log.error("unreadable object", { error: errorFields(error) });
}

/**
 * Opens an immutable object whole: its KV hot copy when there is one (copied from R2 once checked),
 * else R2, checked against `expect`.
 * @throws {ProtocolError} "corrupt" when it is missing or not what `expect` says
 */
export async function openImmutable({ store, hot }: EdgeStorage, key: string, expect?: Expected): Promise<ReadableStream<Uint8Array>> {
  const copy = await hot.stream(key);
  if (copy !== null) return copy;
  const object = await store.get(key);
  checkObject(key, object, expect);
  if (expect?.sha256 !== undefined && object!.sha256 === undefined) return checkedBody(key, object!, expect.sha256);
  return object!.body;
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
  const open = async (part: Part) => ("key" in part ? openRange(storage, part) : undefined);
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
          try {
            reader = index === firstObject ? opened : await open(part);
          } catch (error) {
            // The answer has started: it is cut, so no client or cache takes it for whole.
            logCorrupt(error);
            throw error;
          }
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
  const body = whole ? await openImmutable(storage, only.key, only.expect) : await concatenated(storage, parts);
  return new Response(withLength(body, length), { headers });
}

/**
 * A reader of a part's bytes (an R2 range read), checked against what the index says of the whole
 * object; a whole object the store keeps no checksum of is hashed as it passes.
 * @throws {ProtocolError} "corrupt" when it is missing or not what the index says
 */
export async function openRange({ store }: EdgeStorage, part: Extract<Part, { key: string }>): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const whole = part.offset === 0 && part.length === part.expect?.size;
  const object = await store.get(part.key, whole ? undefined : { range: { offset: part.offset, length: part.length } });
  checkObject(part.key, object, part.expect);
  if (whole && part.expect?.sha256 !== undefined && object!.sha256 === undefined) return (await checkedBody(part.key, object!, part.expect.sha256)).getReader();
  return object!.body.getReader();
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

/** What page `n` (from 0) of a version is, as stored. */
export function pageExpect(index: VersionIndex, n: number): Expected {
  const page = index.pages[n]!;
  return { size: page.bytes, sha256: page.sha256 };
}

/** The full body as parts: the pages joined (a comma and R2 range reads), or page 1 as it is. */
export function bodyParts(index: VersionIndex): Part[] {
  return bodySegments(index.pages).flatMap((segment): Part[] => [
    ...(segment.before ? [{ text: segment.before }] : []),
    { key: pageKeyOf(index, segment.page), offset: segment.offset, length: segment.length, expect: pageExpect(index, segment.page) },
  ]);
}

/** Serves a version's full body: 304 and HEAD from the head, else streamed. */
export async function serveBody(c: AppContext, version: ResolvedVersion, kind: UrlKind): Promise<Response> {
  const { summary } = version;
  const etag = strongEtag(summary.hash);
  const lastModified = new Date(summary.generated_at);
  const headers = representationHeaders({ kind, dataset: version.state.head.dataset, etag, lastModified, version: summary.version, contentLength: summary.bytes, freshness: freshnessSeconds(c.env) });
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
  const headers = representationHeaders({ kind, dataset: index.dataset, etag, lastModified, version: index.version, contentLength: stored.bytes, freshness: freshnessSeconds(c.env) });
  headers.set("Link", pageLinks(index.dataset, index.version, page, index.pages.length));
  headers.set("Accept-Ranges", "bytes");
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  return serveParts(c, headers, [{ key: pageKeyOf(index, page - 1), offset: 0, length: stored.bytes, expect: pageExpect(index, page - 1) }], stored.bytes, { etag, lastModified });
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
  const key = pageObjectKey(dataset, sha256);
  const object = await c.var.store.get(key);
  if (object === null) throw new HTTPException(404, { message: `no page ${sha256} is stored for ${dataset}` });
  // The key names the bytes: a stored checksum that differs is a corrupt page.
  checkObject(key, object, { size: object.size, sha256 });
  const headers = representationHeaders({ kind: "versioned", dataset, etag, lastModified: object.uploaded, contentLength: object.size });
  headers.set("Accept-Ranges", "bytes");
  const notModified = isNotModified(c.req.raw.headers, etag, object.uploaded);
  const range = rangeFor(c, object.size, { etag, lastModified: object.uploaded });
  if (notModified || c.req.method === "HEAD" || range.kind !== "full") {
    await object.body.cancel();
    if (notModified) return notModifiedResponse(headers);
    if (c.req.method === "HEAD") return new Response(null, { headers });
    return serveParts(c, headers, [{ key, offset: 0, length: object.size, expect: { size: object.size, sha256 } }], object.size, { etag, lastModified: object.uploaded });
  }
  const body = object.sha256 === undefined ? await checkedBody(key, object, sha256) : object.body;
  return new Response(withLength(body, object.size), { headers });
}
