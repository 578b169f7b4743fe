/**
 * Snapshot bodies and pages. A version is stored as pages; a page is served as stored, and the
 * full body is the pages streamed in order with the bytes `bodySegments` names (R2 range reads, so
 * the Worker never parses, buffers or rewrites a body of any size). Conditional requests are
 * answered from the manifest before anything is read.
 */
import { HTTPException } from "hono/http-exception";
import { pageObjectKey } from "../../contract/keys.ts";
import { bodySegments, currentVersion, findVersion, type SnapshotManifest, type VersionInfo } from "../../contract/manifest.ts";
import { readManifest } from "../../contract/protocol/manifests.ts";
import type { AppContext, EdgeStorage } from "../env.ts";
import { notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { quoted } from "../http/errors.ts";

/**
 * The dataset's manifest, read from R2 (strongly consistent) on every miss of the edge cache.
 * @throws {HTTPException} 404 when the dataset was never published
 * @throws {ProtocolError} "corrupt" (503) when its manifest is unreadable
 */
export async function requireManifest(c: AppContext, dataset: string): Promise<SnapshotManifest> {
  const read = await readManifest(c.var.store, dataset);
  if (read === null) throw new HTTPException(404, { message: `unknown dataset ${dataset}` });
  return read.value;
}

/** The manifest's current version. @throws {HTTPException} 404 before the first publish */
export function currentOf(manifest: SnapshotManifest): VersionInfo {
  const info = currentVersion(manifest);
  if (info === undefined) throw new HTTPException(404, { message: `dataset ${manifest.dataset} has no published version yet` });
  return info;
}

/** A version the manifest retains. @throws {HTTPException} 404 for any other */
export function retainedOf(manifest: SnapshotManifest, version: string): VersionInfo {
  const info = findVersion(manifest, version);
  if (info === undefined) throw new HTTPException(404, { message: `unknown version ${version} of dataset ${manifest.dataset}` });
  return info;
}

/** The current version. @throws {HTTPException} 404 before the first publish */
export async function requireCurrent(c: AppContext, dataset: string): Promise<VersionInfo> {
  return currentOf(await requireManifest(c, dataset));
}

/** A retained version. @throws {HTTPException} 404 for a version the manifest does not retain */
export async function requireVersion(c: AppContext, dataset: string, version: string): Promise<VersionInfo> {
  return retainedOf(await requireManifest(c, dataset), version);
}

/** The readable side of a stream that carries exactly `bytes` bytes, so Content-Length holds. */
export function withLength(body: ReadableStream<Uint8Array>, bytes: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new FixedLengthStream(bytes);
  body.pipeTo(writable).catch(() => {});
  return readable as ReadableStream<Uint8Array>;
}

/** Opens page `page` (from 1): the KV hot copy when there is one, else R2. */
async function openPage({ store, hot }: EdgeStorage, dataset: string, version: string, page: number): Promise<ReadableStream<Uint8Array>> {
  const key = pageObjectKey(dataset, version, page);
  const copy = await hot.stream(key);
  if (copy !== null) return copy;
  const object = await store.get(key);
  if (object === null) throw new Error(`${key} is named by the manifest but missing from R2`);
  return object.body;
}

/** The full body: page 1 as it is when there is one page, else the pages joined by R2 range reads. */
async function openBody(storage: EdgeStorage, dataset: string, info: VersionInfo): Promise<ReadableStream<Uint8Array>> {
  if (info.pages.length === 1) return openPage(storage, dataset, info.version, 1);
  const segments = bodySegments(info.pages);
  const encoder = new TextEncoder();
  let next = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const openSegment = async () => {
    const segment = segments[next++]!;
    const key = pageObjectKey(dataset, info.version, segment.page + 1);
    const object = await storage.store.get(key, { range: { offset: segment.offset, length: segment.length } });
    if (object === null) throw new Error(`${key} is named by the manifest but missing from R2`);
    return { before: segment.before, reader: object.body.getReader() };
  };
  // The first page is opened before answering, so a missing object is a 500, not a cut body.
  const first = await openSegment();
  reader = first.reader;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (reader === undefined) {
          if (next >= segments.length) return controller.close();
          const opened = await openSegment();
          reader = opened.reader;
          if (opened.before) return controller.enqueue(encoder.encode(opened.before));
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

/** Serves a version's full body: 304 from the manifest, else streamed. */
export async function serveBody(c: AppContext, dataset: string, info: VersionInfo, kind: UrlKind): Promise<Response> {
  const etag = strongEtag(info.hash);
  const lastModified = new Date(info.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: info.version, contentLength: info.bytes });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const body = await openBody({ store: c.var.store, hot: c.var.hot }, dataset, info);
  return new Response(withLength(body, info.bytes), { headers });
}

/** Parses a page number from the URL. @throws {HTTPException} 400 for anything but 1, 2, 3... */
export function pageNumber(raw: string | undefined): number {
  const page = Number(raw);
  if (!/^[1-9]\d{0,8}$/.test(raw ?? "")) throw new HTTPException(400, { message: `malformed page number ${quoted(raw ?? "")}` });
  return page;
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
export async function servePage(c: AppContext, dataset: string, info: VersionInfo, page: number, kind: UrlKind): Promise<Response> {
  const stored = info.pages[page - 1];
  if (stored === undefined) {
    throw new HTTPException(404, { message: `page ${page} of ${dataset}@${info.version} does not exist (it has ${info.pages.length})` });
  }
  const etag = strongEtag(stored.sha256);
  const lastModified = new Date(info.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: info.version, contentLength: stored.bytes });
  headers.set("Link", pageLinks(dataset, info.version, page, info.pages.length));
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const body = await openPage({ store: c.var.store, hot: c.var.hot }, dataset, info.version, page);
  return new Response(withLength(body, stored.bytes), { headers });
}
