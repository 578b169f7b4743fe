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
import { formatKeysOf, ndjsonPageBytes, type VersionIndex } from "../../contract/version-index.ts";
import type { AppContext } from "../env.ts";
import { notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import type { Part } from "../http/range.ts";
import { serveParts } from "./bodies.ts";
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
  const lengths = format === "ndjson" && stored.paged ? index.pages.filter((page) => page.rows > 0).map(ndjsonPageBytes) : [stored.bytes];
  return formatKeysOf(index, format).map((key, i) => ({ key, offset: 0, length: lengths[i]! }));
}

/**
 * Serves a version's `format`: 304 from the index, else streamed from R2.
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
  const headers = representationHeaders({ kind, etag, lastModified, version: index.version, contentLength: stored.bytes });
  headers.set("Content-Type", FORMAT_CONTENT_TYPES[format]);
  // Names are [a-z0-9-] and version ids [0-9TZa-f-], so the quoted filename needs no escaping.
  headers.set("Content-Disposition", `attachment; filename="${downloadName(index.dataset, index.version, format)}"`);
  headers.set("Accept-Ranges", "bytes");
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  return serveParts(c, headers, formatParts(index, format), stored.bytes, { etag, lastModified });
}
