/**
 * Cutting a version's rows into pages: each page a JSON array of whole rows of at most
 * PAGE_TARGET_BYTES (a single larger row gets a page of its own). Pure and incremental, so the
 * publisher plans pages while it streams rows it never holds all at once.
 */
import { PAGE_TARGET_BYTES } from "./manifest.ts";

/** Where one page starts and ends, in rows. */
export interface PageSpan {
  firstRow: number;
  rows: number;
  /** Size of the page as a JSON array: brackets, rows and the commas between them. */
  bytes: number;
}

/**
 * Feeds rows' byte lengths in order and reports the pages they make. `add` returns the page that
 * the row just closed, if it closed one (the row then starts the next page).
 */
export class PagePlanner {
  readonly #target: number;
  #firstRow = 0;
  #rows = 0;
  #bytes = 2; // "[" and "]"

  constructor(targetBytes = PAGE_TARGET_BYTES) {
    this.#target = targetBytes;
  }

  /** Adds the next row; returns the previous page when this row does not fit in it. */
  add(rowBytes: number): PageSpan | null {
    const grown = this.#bytes + rowBytes + (this.#rows > 0 ? 1 : 0);
    if (this.#rows > 0 && grown > this.#target) {
      const closed = this.#span();
      this.#firstRow += this.#rows;
      this.#rows = 1;
      this.#bytes = 2 + rowBytes;
      return closed;
    }
    this.#rows += 1;
    this.#bytes = grown;
    return null;
  }

  /** Closes the last page (an empty version gets one empty page). */
  finish(): PageSpan {
    return this.#span();
  }

  #span(): PageSpan {
    return { firstRow: this.#firstRow, rows: this.#rows, bytes: this.#bytes };
  }
}

/** Pages of already serialized rows (tests and small fixtures). */
export function planPages(rows: readonly string[], targetBytes = PAGE_TARGET_BYTES): { span: PageSpan; text: string }[] {
  const encoder = new TextEncoder();
  const planner = new PagePlanner(targetBytes);
  const spans: PageSpan[] = [];
  for (const row of rows) {
    const closed = planner.add(encoder.encode(row).byteLength);
    if (closed) spans.push(closed);
  }
  spans.push(planner.finish());
  return spans.map((span) => ({ span, text: `[${rows.slice(span.firstRow, span.firstRow + span.rows).join(",")}]` }));
}
