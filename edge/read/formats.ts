/**
 * A version in another format (`/v1/datasets/<name>.csv`, `.../versions/<v>.parquet`): the objects
 * the publisher stored for it, streamed from R2 as they are (the edge never converts): CSV and
 * Parquet are one object per version, NDJSON one object per page, shared like the pages. Each has
 * its own ETag (the format's sha256, from the index, so a revalidation reads no object), a download
 * name, and the caching of the JSON URL of the same kind.
 */
import { HTTPException } from "hono/http-exception";
import { FORMATS, type Format } from "../../contract/manifest.ts";
import { FORMAT_CONTENT_TYPES } from "../../contract/media-types.ts";
import { FINAL_BLOCK, GZIP_HEADER, gzipTrailer } from "../../contract/gzip.ts";
import { formatKeysOf, gzipKeysOf, ndjsonPageBytes, type VersionIndex } from "../../contract/version-index.ts";
import type { AppContext } from "../env.ts";
import { freshnessSeconds, notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { acceptsGzip, clientAcceptEncoding } from "../http/encoding.ts";
import type { Part } from "../http/range.ts";
import { concatenated, serveParts, withLength } from "./bodies.ts";
import type { ResolvedVersion } from "./versions.ts";

/** A route parameter ending in a format's extension: `<stem>.<format>` (the stem is checked by the caller). */
export const FORMAT_FILE_PARAM = `{[^/]+\\.(?:${FORMATS.join("|")})}`;

/** Splits `airport-delays.csv` into its stem and format. Pure. */
export function splitFormat(file: string): { stem: string; format: Format } {
  const dot = file.lastIndexOf(".");
  return { stem: file.slice(0, dot), format: file.slice(dot + 1) as Format };
}

/** The file name a download is saved under: `<dataset>-<version>.<ext>`. */
export function downloadName(dataset: string, version: string, format: Format): string {
  return `${dataset}-${version}.${format}`;
}

/** The format's bytes as parts: its one object, or its NDJSON pages in order. */
function formatParts(index: VersionIndex, format: Format): Part[] {
  const stored = index.formats[format]!;
  const paged = format === "ndjson" && stored.paged;
  const lengths = paged ? index.pages.filter((page) => page.rows > 0).map(ndjsonPageBytes) : [stored.bytes];
  // A whole-file format is checked against its sha256; an NDJSON page (named by its JSON page) by its size.
  return formatKeysOf(index, format).map((key, i) => ({ key, offset: 0, length: lengths[i]!, expect: paged ? { size: lengths[i]! } : { size: stored.bytes, sha256: stored.sha256 } }));
}

/** The formats a gzip copy is stored of: text formats Cloudflare does not compress itself. */
const COMPRESSIBLE: ReadonlySet<Format> = new Set(["csv", "ndjson"]);

/**
 * The gzip copy of a format as parts: CSV's one object, or NDJSON's pieces stitched into one gzip
 * stream (contract/gzip.ts).
 */
function gzipParts(index: VersionIndex, format: Format): Part[] {
  const gzip = index.formats[format]!.gzip!;
  const keys = gzipKeysOf(index, format);
  if (gzip.pieces === undefined) return [{ key: keys[0]!, offset: 0, length: gzip.bytes, expect: { size: gzip.bytes, ...(gzip.sha256 ? { sha256: gzip.sha256 } : {}) } }];
  const pages = index.pages.filter((page) => page.rows > 0);
  const pieces = gzip.pieces.map(([sha256, bytes, crc32], i) => ({ sha256, bytes, crc32, length: ndjsonPageBytes(pages[i]!) }));
  const stored = keys.map((key, i): Part => ({ key, offset: 0, length: pieces[i]!.bytes, expect: { size: pieces[i]!.bytes, sha256: pieces[i]!.sha256 } }));
  return [{ bytes: GZIP_HEADER }, ...stored, { bytes: FINAL_BLOCK }, { bytes: gzipTrailer(pieces) }];
}

/**
 * Serves the gzip copy of a format (`Content-Encoding: gzip`, sent as stored: `encodeBody:
 * "manual"`), with an entity tag of its own.
 */
async function serveGzip(c: AppContext, index: VersionIndex, format: Format, headers: Headers, lastModified: Date): Promise<Response> {
  const stored = index.formats[format]!;
  const gzip = stored.gzip!;
  // A tag of its own (RFC 9110 §8.8.3): the identity's hash and the copy's length, which its
  // compression decides.
  const etag = strongEtag(`${stored.sha256}-gzip-${gzip.sha256?.slice(0, 16) ?? gzip.bytes}`);
  headers.set("ETag", etag);
  headers.set("Content-Encoding", "gzip");
  headers.set("Content-Length", String(gzip.bytes));
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers, encodeBody: "manual" });
  const body = await concatenated({ store: c.var.store, hot: c.var.hot }, gzipParts(index, format));
  return new Response(withLength(body, gzip.bytes), { headers, encodeBody: "manual" });
}

/**
 * Serves a version's `format`: 304 from the index, else streamed from R2. CSV and NDJSON go gzip
 * to a client that accepts it (`Vary: Accept-Encoding`), except for a ranged request, which gets a
 * range of the identity bytes.
 * @throws {HTTPException} 404 when the version was published without that format
 */
export async function serveFormat(c: AppContext, version: ResolvedVersion, format: Format, kind: UrlKind): Promise<Response> {
  const index = await version.index();
  const stored = index.formats[format];
  if (stored === undefined) {
    throw new HTTPException(404, { message: `${index.dataset}@${index.version} was published without ${format}` });
  }
  const etag = strongEtag(stored.sha256);
  const lastModified = new Date(index.generated_at);
  const headers = representationHeaders({ kind, dataset: index.dataset, etag, lastModified, version: index.version, contentLength: stored.bytes, freshness: freshnessSeconds(c.env) });
  headers.set("Content-Type", FORMAT_CONTENT_TYPES[format]);
  // Names are [a-z0-9-] and version ids [0-9TZa-f-], so the quoted filename needs no escaping.
  headers.set("Content-Disposition", `attachment; filename="${downloadName(index.dataset, index.version, format)}"`);
  headers.set("Accept-Ranges", "bytes");
  if (COMPRESSIBLE.has(format)) {
    headers.set("Vary", "Accept-Encoding");
    const ranged = c.req.method === "GET" && c.req.header("Range") !== undefined;
    if (stored.gzip !== undefined && !ranged && acceptsGzip(clientAcceptEncoding(c.req.raw))) return serveGzip(c, index, format, headers, lastModified);
  }
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  return serveParts(c, headers, formatParts(index, format), stored.bytes, { etag, lastModified });
}
