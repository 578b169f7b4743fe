/**
 * The content-defined page rule (contract/pages.ts): the same rows give the same pages, and a small
 * change of the rows changes only the pages that hold it, so every other page keeps its bytes and
 * its hash (and its storage object and cache entries) from one version to the next.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_LIMITS, planPages, scaledPageLimits } from "../../contract/pages.ts";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const limits = scaledPageLimits(2_000);

/** Rows like a flights table's: a date, numbers and two codes, about 90 bytes each. */
function flights(n: number, from = 0, edit = ""): string[] {
  return Array.from({ length: n }, (_, i) => {
    const at = from + i;
    return JSON.stringify({ date: `2001-01-${String((at % 28) + 1).padStart(2, "0")}T${String(at % 24).padStart(2, "0")}:00`, delay: (at * 37) % 180, distance: 100 + ((at * 13) % 2000), origin: `O${at % 97}`, destination: `D${(at * 7) % 89}${edit}` });
  });
}

/** The hashes of the pages `rows` make. */
function pageHashes(rows: string[]): string[] {
  return planPages(rows, limits).map((page) => sha(page.text));
}

/** How many pages of `after` are not among `before`'s. */
function changed(before: string[], after: string[]): number {
  const held = new Set(before);
  return after.filter((hash) => !held.has(hash)).length;
}

describe("content-defined pages", () => {
  const rows = flights(3000);
  const base = pageHashes(rows);

  it("gives the same pages for the same rows, and pages near the target on average", () => {
    expect(pageHashes(flights(3000))).toEqual(base);
    const bytes = planPages(rows, limits).map((page) => page.span.bytes);
    const mean = bytes.reduce((a, b) => a + b, 0) / bytes.length;
    expect(base.length).toBeGreaterThan(50);
    expect(mean).toBeGreaterThan(limits.targetBytes * 0.6);
    expect(mean).toBeLessThan(limits.targetBytes * 1.6);
    expect(Math.max(...bytes)).toBeLessThanOrEqual(limits.maxBytes);
  });

  it("changes only the last page when a row is appended", () => {
    for (const extra of [1, 5]) {
      const after = pageHashes([...rows, ...flights(extra, 3000)]);
      expect(after.slice(0, base.length - 1)).toEqual(base.slice(0, -1));
      // The old last page grows (or is followed by new pages): nothing before it moves.
      expect(changed(base, after)).toBeLessThanOrEqual(1 + Math.ceil((extra * 100) / (limits.targetBytes / 2)));
    }
  });

  it("changes at most two pages when one row is inserted, wherever it goes", () => {
    for (let at = 0; at <= rows.length; at += 97) {
      const inserted = [...rows.slice(0, at), JSON.stringify({ inserted: at, pad: "x".repeat(at % 50) }), ...rows.slice(at)];
      expect(changed(base, pageHashes(inserted)), `inserted at ${at}`).toBeLessThanOrEqual(2);
    }
  });

  it("changes at most two pages when one row is edited or deleted", () => {
    for (let at = 0; at < rows.length; at += 89) {
      const edited = rows.map((row, i) => (i === at ? row.replace("}", ',"edited":true}') : row));
      expect(changed(base, pageHashes(edited)), `edited at ${at}`).toBeLessThanOrEqual(2);
      const deleted = rows.filter((_, i) => i !== at);
      expect(changed(base, pageHashes(deleted)), `deleted at ${at}`).toBeLessThanOrEqual(2);
    }
  });

  it("keeps the pages before and after a clustered edit", () => {
    // Every row of one stretch changes (one day of a date-sorted table): only the pages over it and
    // at its two ends change.
    const edited = [...rows.slice(0, 1000), ...flights(200, 1000, "-edited"), ...rows.slice(1200)];
    const after = pageHashes(edited);
    const stretchPages = Math.ceil((200 * 100) / (limits.targetBytes / 2));
    expect(changed(base, after)).toBeLessThanOrEqual(stretchPages + 2);
    expect(after.slice(0, 5)).toEqual(base.slice(0, 5));
    expect(after.slice(-5)).toEqual(base.slice(-5));
  });

  it("uses a 256 KiB minimum, 4 MiB target and 16 MiB maximum by default", () => {
    expect(DEFAULT_PAGE_LIMITS).toEqual({ minBytes: 256 * 1024, targetBytes: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024 });
  });
});
