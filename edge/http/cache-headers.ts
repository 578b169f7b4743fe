/**
 * Cache-Control per URL kind. A versioned URL names immutable bytes, so it is cached for a year
 * (RFC 8246 `immutable`). A "current" URL (and the catalog) changes on every publish: shared caches
 * (Workers Cache, the Cache API locally) keep it for FRESHNESS_SECONDS (`s-maxage`) and purge it
 * on publish, browsers revalidate it on every use (`max-age=0`; a 304 from the edge costs no body),
 * and `must-revalidate` forbids serving it stale (RFC 9111 §5.2.2.2), including RFC 5861's
 * stale-while-revalidate, which is not used. So no cache serves a current URL more than
 * FRESHNESS_SECONDS after the Worker answered it from the R2 manifest, whether or not a purge works.
 */

import { JSON_CONTENT_TYPE } from "../../contract/media-types.ts";
import { log } from "../log.ts";

export type UrlKind = "versioned" | "current" | "catalog";

/** Seconds shared caches keep a current URL unless FRESHNESS_SECONDS says otherwise. */
export const DEFAULT_FRESHNESS_SECONDS = 10;
/** Largest FRESHNESS_SECONDS accepted: a day (a longer bound is not "fresh" for anyone). */
export const MAX_FRESHNESS_SECONDS = 86_400;
/** Seconds /v1/health may be cached: a few, so uptime monitors polling it cost little. */
export const HEALTH_CACHE_SECONDS = 5;
const ONE_YEAR_SECONDS = 31_536_000;

/**
 * The staleness bound configured by the FRESHNESS_SECONDS variable: an integer from 1 to a day.
 * A missing or malformed value falls back to DEFAULT_FRESHNESS_SECONDS with one error line, so a
 * typo in the config never stops the Worker serving.
 */
export function freshnessSeconds(env: { FRESHNESS_SECONDS?: string }): number {
  const raw = env.FRESHNESS_SECONDS;
  if (raw === undefined || raw.trim() === "") return DEFAULT_FRESHNESS_SECONDS;
  const value = Number(raw);
  if (Number.isInteger(value) && value >= 1 && value <= MAX_FRESHNESS_SECONDS) return value;
  log.error("invalid FRESHNESS_SECONDS; using the default", { value: raw.slice(0, 20), default: DEFAULT_FRESHNESS_SECONDS });
  return DEFAULT_FRESHNESS_SECONDS;
}

/** Cache-Control of a response shared caches keep for `seconds` and browsers always revalidate. */
export function sharedCacheControl(seconds: number): string {
  return `public, max-age=0, s-maxage=${seconds}, must-revalidate`;
}

/** The Cache-Control header value for a URL kind (current URLs with the default bound). */
export function cacheControlFor(kind: UrlKind, freshness = DEFAULT_FRESHNESS_SECONDS): string {
  if (kind === "versioned") return `public, max-age=${ONE_YEAR_SECONDS}, immutable`;
  return sharedCacheControl(freshness);
}

export const VERSION_HEADER = "X-Edgesnap-Version";

/** Tag of the catalog and of other answers that span datasets. */
export const CATALOG_TAG = "catalog";
/** Tag of /v1/health. */
export const HEALTH_TAG = "health";

/** Tag of every response about a dataset. */
export function datasetTag(dataset: string): string {
  return `ds:${dataset}`;
}

/** Tag of the responses of one version of a dataset, at current and versioned URLs alike. */
export function versionTag(dataset: string, version: string): string {
  return `ds:${dataset}@${version}`;
}

/** Tag of a dataset's current URLs: what a publish, a rollback or a pin makes wrong. */
export function currentTag(dataset: string): string {
  return `ds:${dataset}:current`;
}

/** What an answer is, for caching: its URL kind, and the dataset and version it is about. */
export interface CacheScope {
  kind: UrlKind;
  /** Omitted for answers that span datasets (the catalog, the API document). */
  dataset?: string;
  version?: string;
}

/**
 * The Cache-Tag values of an answer (Workers Cache purges by them): the catalog's for answers
 * spanning datasets, else the dataset's, its version's, and for a current URL the dataset's current
 * tag. A versioned URL is never made wrong by a publish, so it has no current tag. Pure.
 */
export function cacheTags(scope: CacheScope): string[] {
  if (scope.dataset === undefined) return [CATALOG_TAG];
  const tags = [datasetTag(scope.dataset)];
  if (scope.version !== undefined) tags.push(versionTag(scope.dataset, scope.version));
  if (scope.kind !== "versioned") tags.push(currentTag(scope.dataset));
  return tags;
}

export interface RepresentationHeadersOptions extends CacheScope {
  etag: string;
  lastModified: Date;
  /** Body length in bytes, when known without reading the body. */
  contentLength?: number;
  /** The staleness bound of current URLs (FRESHNESS_SECONDS). Default DEFAULT_FRESHNESS_SECONDS. */
  freshness?: number;
}

/**
 * The headers every snapshot, item and catalog response carries, on 200 and 304 alike: its
 * validators, and its caching (Cache-Control and Cache-Tag) from what it is. Pure.
 */
export function representationHeaders(options: RepresentationHeadersOptions): Headers {
  const headers = new Headers({
    "Content-Type": JSON_CONTENT_TYPE,
    ETag: options.etag,
    "Last-Modified": options.lastModified.toUTCString(),
    "Cache-Control": cacheControlFor(options.kind, options.freshness),
    "Cache-Tag": cacheTags(options).join(","),
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
