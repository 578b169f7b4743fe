/**
 * Cutting a version's rows into pages with content-defined boundaries: whether a row ends its page
 * depends on that row's own bytes (a hash of them), so inserting, appending or editing a few rows
 * moves only the boundaries of the pages that hold them, and every other page keeps its exact bytes
 * and its sha256. Pages are stored once under that hash and shared by every version that holds
 * them, which is what makes a version cost what changed.
 *
 * The rule, applied to the rows in order:
 * - a row ends its page when `rowHash(row) / 2^32 < rowBytes / (PAGE_TARGET_BYTES - PAGE_MIN_BYTES)`
 *   and the page has reached PAGE_MIN_BYTES: after the minimum, each byte ends a page with the same
 *   small probability, so pages average PAGE_TARGET_BYTES whatever the rows' sizes;
 * - a row that would take its page past PAGE_MAX_BYTES starts the next page instead;
 * - a page never splits a row, so a row larger than the maximum is a page of its own.
 * A boundary moves only where an edited row's hash changes, where a page gets within the minimum of
 * a moved boundary, or in a stretch longer than the maximum without a cut row (about e^-4 of
 * stretches with these sizes); then the next cut row puts the boundaries back in step.
 * Pure and incremental, so the publisher plans pages while it streams rows it never holds at once.
 */

/** What pages average, in bytes of JSON. */
export const PAGE_TARGET_BYTES = 4 * 1024 * 1024;
/** A cut row closes a page only once the page holds this many bytes. */
export const PAGE_MIN_BYTES = 256 * 1024;
/** A page never grows past this (unless one row is larger). */
export const PAGE_MAX_BYTES = 16 * 1024 * 1024;

/** The sizes the rule works with (tests use small ones). */
export interface PageLimits {
  minBytes: number;
  targetBytes: number;
  maxBytes: number;
}

export const DEFAULT_PAGE_LIMITS: PageLimits = { minBytes: PAGE_MIN_BYTES, targetBytes: PAGE_TARGET_BYTES, maxBytes: PAGE_MAX_BYTES };

/**
 * A 32-bit hash of a row's bytes: FNV-1a, then murmur3's finalizer so every bit depends on every
 * byte (the cut rule compares the whole value with a threshold). Pure.
 * http://www.isthe.com/chongo/tech/comp/fnv/
 */
export function rowHash(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Whether a row of `rowBytes` whose hash is `hash` is a cut row (see the module comment). Pure. */
export function isCutRow(hash: number, rowBytes: number, limits: PageLimits = DEFAULT_PAGE_LIMITS): boolean {
  return hash < (rowBytes / (limits.targetBytes - limits.minBytes)) * 0x1_0000_0000;
}

/** Where one page starts and ends, in rows. */
export interface PageSpan {
  firstRow: number;
  rows: number;
  /** Size of the page as a JSON array: brackets, rows and the commas between them. */
  bytes: number;
}

/**
 * Feeds rows in order and reports the pages they make. `add` returns the pages the row closed:
 * none, the page before it (the row would have taken it past the maximum), the page it ends (a cut
 * row), or both.
 */
export class PagePlanner {
  readonly #limits: PageLimits;
  #firstRow = 0;
  #rows = 0;
  #bytes = 2; // "[" and "]"

  constructor(limits: PageLimits = DEFAULT_PAGE_LIMITS) {
    this.#limits = limits;
  }

  /** Adds the next row: its size and its rowHash. */
  add(rowBytes: number, hash: number): PageSpan[] {
    const closed: PageSpan[] = [];
    if (this.#rows > 0 && this.#bytes + 1 + rowBytes > this.#limits.maxBytes) closed.push(this.#close());
    this.#bytes += rowBytes + (this.#rows > 0 ? 1 : 0);
    this.#rows += 1;
    if (this.#bytes >= this.#limits.minBytes && isCutRow(hash, rowBytes, this.#limits)) closed.push(this.#close());
    return closed;
  }

  /** Closes the last page; an empty version (or one whose last row was a cut row) gets none here. */
  finish(): PageSpan | null {
    return this.#rows > 0 ? this.#close() : null;
  }

  #close(): PageSpan {
    const span = { firstRow: this.#firstRow, rows: this.#rows, bytes: this.#bytes };
    this.#firstRow += this.#rows;
    this.#rows = 0;
    this.#bytes = 2;
    return span;
  }
}

/** The one page of an empty version: `[]`. */
export const EMPTY_PAGE_TEXT = "[]";

/** Pages of already serialized rows (tests, fixtures and small publishes). An empty version has one page `[]`. */
export function planPages(rows: readonly string[], limits: PageLimits = DEFAULT_PAGE_LIMITS): { span: PageSpan; text: string }[] {
  const encoder = new TextEncoder();
  const planner = new PagePlanner(limits);
  const spans: PageSpan[] = [];
  for (const row of rows) {
    const bytes = encoder.encode(row);
    spans.push(...planner.add(bytes.byteLength, rowHash(bytes)));
  }
  const last = planner.finish();
  if (last) spans.push(last);
  if (spans.length === 0) spans.push({ firstRow: 0, rows: 0, bytes: 2 });
  return spans.map((span) => ({ span, text: `[${rows.slice(span.firstRow, span.firstRow + span.rows).join(",")}]` }));
}

/** Page limits scaled down for tests and fixtures: the same rule with a smaller target. */
export function scaledPageLimits(targetBytes: number): PageLimits {
  return { minBytes: Math.max(1, Math.floor(targetBytes / 16)), targetBytes, maxBytes: targetBytes * 4 };
}
