/**
 * Conditional requests (RFC 9110 §13): decided from the manifest's content hash before any body is
 * read, so a revalidation costs one small read and no body transfer.
 */

/** Formats a strong entity tag from an opaque value (RFC 9110 §8.8.3). */
export function strongEtag(opaque: string): string {
  return `"${opaque}"`;
}

/** Strips the weakness indicator: If-None-Match uses the weak comparison (RFC 9110 §8.8.3.2). */
function opaqueTag(tag: string): string {
  const trimmed = tag.trim();
  return trimmed.startsWith("W/") ? trimmed.slice(2) : trimmed;
}

/**
 * Whether `If-None-Match` matches the current entity tag, i.e. the server should answer 304 to a
 * GET or HEAD (RFC 9110 §13.1.2): `*` matches any current representation, otherwise any member of
 * the comma-separated list that weakly matches `etag`.
 */
export function ifNoneMatchMatches(header: string | null | undefined, etag: string): boolean {
  if (header == null) return false;
  const value = header.trim();
  if (value === "*") return true;
  const current = opaqueTag(etag);
  // Entity tags cannot contain commas (RFC 9110 §8.8.3: etagc excludes DQUOTE only, but a comma
  // inside a tag would be ambiguous in a list and no server of ours mints one), so split on commas.
  return value.split(",").some((member) => member.trim() !== "" && opaqueTag(member) === current);
}

/**
 * Whether the representation is unmodified since `If-Modified-Since` (RFC 9110 §13.1.3). Only
 * evaluated when the request has no If-None-Match (§13.2.2 step 4); HTTP dates have one-second
 * precision, so the comparison truncates `lastModified` to whole seconds.
 */
export function notModifiedSince(header: string | null | undefined, lastModified: Date): boolean {
  if (header == null) return false;
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(lastModified.getTime() / 1000) * 1000 <= since;
}

/** Whether a GET/HEAD should be answered 304, applying RFC 9110 §13.2.2's precedence. */
export function isNotModified(headers: Headers, etag: string, lastModified: Date): boolean {
  const ifNoneMatch = headers.get("If-None-Match");
  if (ifNoneMatch != null) return ifNoneMatchMatches(ifNoneMatch, etag);
  return notModifiedSince(headers.get("If-Modified-Since"), lastModified);
}
