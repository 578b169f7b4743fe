/**
 * Cache-Control per URL kind. A versioned URL names immutable bytes, so it is cached for a year
 * (RFC 8246 `immutable`); a "current" URL changes on every publish, so it is cached briefly and
 * revalidated (RFC 5861 `stale-while-revalidate`), and ETag revalidation makes that cheap.
 */

import { JSON_CONTENT_TYPE } from "../../contract/media-types.ts";

export type UrlKind = "versioned" | "current" | "catalog";

/** Seconds a current URL stays fresh in caches. */
export const CURRENT_MAX_AGE_SECONDS = 15;
/** Seconds a cache may serve a stale current URL while it revalidates in the background. */
export const CURRENT_STALE_WHILE_REVALIDATE_SECONDS = 60;
const ONE_YEAR_SECONDS = 31_536_000;

/** The Cache-Control header value for a URL kind. */
export function cacheControlFor(kind: UrlKind): string {
  if (kind === "versioned") return `public, max-age=${ONE_YEAR_SECONDS}, immutable`;
  return `public, max-age=${CURRENT_MAX_AGE_SECONDS}, stale-while-revalidate=${CURRENT_STALE_WHILE_REVALIDATE_SECONDS}`;
}

export const VERSION_HEADER = "X-Edgesnap-Version";

export interface RepresentationHeadersOptions {
  kind: UrlKind;
  etag: string;
  lastModified: Date;
  /** Omitted for the catalog, which spans versions. */
  version?: string;
  /** Body length in bytes, when known without reading the body. */
  contentLength?: number;
}

/** The headers every snapshot, item and catalog response carries, on 200 and 304 alike. */
export function representationHeaders(options: RepresentationHeadersOptions): Headers {
  const headers = new Headers({
    "Content-Type": JSON_CONTENT_TYPE,
    ETag: options.etag,
    "Last-Modified": options.lastModified.toUTCString(),
    "Cache-Control": cacheControlFor(options.kind),
  });
  if (options.version !== undefined) headers.set(VERSION_HEADER, options.version);
  if (options.contentLength !== undefined) headers.set("Content-Length", String(options.contentLength));
  return headers;
}

/**
 * A 304 carries the validators and caching headers of the 200 it stands for, but no body and no
 * Content-Length/Content-Type of that body (RFC 9110 §15.4.5).
 */
export function notModifiedResponse(headers: Headers): Response {
  const kept = new Headers(headers);
  kept.delete("Content-Length");
  kept.delete("Content-Type");
  return new Response(null, { status: 304, headers: kept });
}
