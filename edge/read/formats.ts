/**
 * A version in another format (`/v1/datasets/<name>.csv`, `.../versions/<v>.parquet`): the one
 * object the publisher stored for it, streamed from R2 as it is (the edge never converts), with its
 * own ETag (the format's sha256, from the manifest, so a revalidation reads no object), a download
 * name, and the caching of the JSON URL of the same kind.
 */
import { HTTPException } from "hono/http-exception";
import { formatObjectKey } from "../../contract/keys.ts";
import { FORMATS, type Format, type VersionInfo } from "../../contract/manifest.ts";
import { FORMAT_CONTENT_TYPES } from "../../contract/media-types.ts";
import type { AppContext } from "../env.ts";
import { notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { withLength } from "./bodies.ts";

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

/**
 * Serves a version's `format` object: 304 from the manifest, else streamed from R2.
 * @throws {HTTPException} 404 when the version was published without that format
 */
export async function serveFormat(c: AppContext, dataset: string, info: VersionInfo, format: Format, kind: UrlKind): Promise<Response> {
  const stored = info.formats[format];
  if (stored === undefined) {
    throw new HTTPException(404, { message: `${dataset}@${info.version} was published without ${format}` });
  }
  const etag = strongEtag(stored.sha256);
  const lastModified = new Date(info.generated_at);
  const headers = representationHeaders({ kind, etag, lastModified, version: info.version, contentLength: stored.bytes });
  headers.set("Content-Type", FORMAT_CONTENT_TYPES[format]);
  // Names are [a-z0-9-] and version ids [0-9TZa-f-], so the quoted filename needs no escaping.
  headers.set("Content-Disposition", `attachment; filename="${downloadName(dataset, info.version, format)}"`);
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  if (c.req.method === "HEAD") return new Response(null, { headers });
  const key = formatObjectKey(dataset, info.version, format);
  const object = await c.var.store.get(key);
  if (object === null) throw new Error(`${key} is named by the manifest but missing from R2`);
  return new Response(withLength(object.body, stored.bytes), { headers });
}
