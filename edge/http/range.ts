/**
 * Range requests (RFC 9110 §14): one byte range of a representation, answered 206 with
 * Content-Range, or 416 when it starts past the end. What the RFC lets a server ignore is ignored,
 * and the whole representation is answered (200): a Range on anything but GET (§14.2), a unit other
 * than bytes, a malformed or invalid range set (§14.1.1: first-pos after last-pos invalidates the
 * field), several ranges in one request (this server does not answer multipart/byteranges), and an
 * If-Range that does not match (§13.1.5, strong comparison; a date matches the Last-Modified it
 * equals, to the second). Conditional headers are decided before (§13.2.2): a 304 beats a range.
 * Pure.
 */

export type RangeDecision =
  | { kind: "full" }
  /** Bytes `start` to `end`, both inclusive. */
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

const FULL: RangeDecision = { kind: "full" };

/** Whether If-Range lets the range apply: absent, or naming this representation. */
function ifRangeMatches(ifRange: string | null, etag: string, lastModified: Date): boolean {
  if (ifRange === null) return true;
  const value = ifRange.trim();
  // A weak entity tag never matches (§13.1.5 requires the strong comparison).
  if (value.startsWith('"')) return value === etag && !etag.startsWith("W/");
  if (value.startsWith("W/")) return false;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === Math.floor(lastModified.getTime() / 1000) * 1000;
}

/**
 * What to answer for a request's Range header, for a representation of `length` bytes.
 * @param method the request's method (only GET takes a range)
 */
export function decideRange(method: string, headers: Headers, length: number, validators: { etag: string; lastModified: Date }): RangeDecision {
  const header = headers.get("Range");
  if (header === null || method !== "GET") return FULL;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  // Anything else is another unit, several ranges, or malformed: the full representation.
  if (match === null || (match[1] === "" && match[2] === "")) return FULL;
  if (!ifRangeMatches(headers.get("If-Range"), validators.etag, validators.lastModified)) return FULL;
  const [first, last] = [match[1]!, match[2]!];
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || length === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(first);
  const end = last === "" ? length - 1 : Number(last);
  if (last !== "" && end < start) return FULL;
  if (start >= length) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(end, length - 1) };
}

/** The headers of a 206 for bytes `start`..`end` of `length` (on top of the 200's). */
export function partialHeaders(headers: Headers, start: number, end: number, length: number): Headers {
  const out = new Headers(headers);
  out.set("Content-Range", `bytes ${start}-${end}/${length}`);
  out.set("Content-Length", String(end - start + 1));
  return out;
}

/** What a reader knows of a whole stored object before reading it: its size and, often, its sha256. */
export interface Expected {
  size: number;
  sha256?: string;
}

/**
 * One part of a representation streamed from storage: bytes of an object (checked against
 * `expect` before they are sent), or literal bytes.
 */
export type Part = { text: string } | { bytes: Uint8Array } | { key: string; offset: number; length: number; expect?: Expected };

function literal(part: Part): Uint8Array | null {
  if ("text" in part) return new TextEncoder().encode(part.text);
  return "bytes" in part ? part.bytes : null;
}

function partLength(part: Part): number {
  return "key" in part ? part.length : literal(part)!.byteLength;
}

/**
 * The parts that make bytes `start`..`end` (inclusive) of the concatenation of `parts`: whole parts
 * in between, cut parts at the ends. Only those parts are read. Pure.
 */
export function sliceParts(parts: readonly Part[], start: number, end: number): Part[] {
  const out: Part[] = [];
  let at = 0;
  for (const part of parts) {
    const length = partLength(part);
    const from = Math.max(start, at);
    const to = Math.min(end + 1, at + length);
    if (from < to) {
      if ("key" in part) out.push({ ...part, offset: part.offset + (from - at), length: to - from });
      else out.push({ bytes: literal(part)!.subarray(from - at, to - at) });
    }
    at += length;
    if (at > end) break;
  }
  return out;
}
