/**
 * The page plan against a plain reference, on rows whose sizes and the read chunk size are drawn at
 * random: pages cut at the same rows, byte-identical, hashed the same, and every item found in its
 * shard, whichever chunk boundaries the rows and pages fall on.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findItemEntry, itemShardOf } from "../../contract/items.ts";
import { planPages, rowHash, isCutRow, scaledPageLimits, type PageLimits } from "../../contract/pages.ts";
import { planVersion, readPage } from "../../compute/publish/plan.ts";
import { makeTempDir } from "./helpers.ts";

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  temp = await makeTempDir("plan");
});
afterAll(() => temp.remove());

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

describe("planVersion", () => {
  it("matches the reference plan at any chunk size, page target and row mix", async () => {
    const next = random(42);
    for (let trial = 0; trial < 150; trial++) {
      const n = Math.floor(next() * 40);
      const rows = Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, s: "é✈x".repeat(Math.floor(next() * 30)), k: `K${i}` }));
      const dir = path.join(temp.dir, String(trial));
      const { mkdirSync } = await import("node:fs");
      mkdirSync(dir);
      const rowsFile = path.join(dir, "rows.ndjson");
      const keysFile = path.join(dir, "keys.ndjson");
      writeFileSync(rowsFile, rows.map((r) => `${r}\n`).join(""));
      writeFileSync(keysFile, rows.map((_, i) => `${JSON.stringify({ k: `K${i}` })}\n`).join(""));
      const pageBytes = 20 + Math.floor(next() * 400);
      const chunkBytes = 1 + Math.floor(next() * 200);
      const limits = scaledPageLimits(pageBytes);
      const context = JSON.stringify({ trial, n, pageBytes, chunkBytes });
      const plan = await planVersion({ rowsFile, keysFile, keyName: "k", shardDir: path.join(dir, "shards"), pageLimits: limits, chunkBytes });
      const body = `[${rows.join(",")}]`;
      const expected = planPages(rows, limits);
      expect(plan.hash, context).toBe(sha256(body));
      expect(plan.bytes, context).toBe(Buffer.byteLength(body));
      expect(plan.rows, context).toBe(n);
      expect(plan.pages.length, context).toBe(expected.length);
      for (const [i, page] of plan.pages.entries()) {
        const text = (await readPage(rowsFile, page)).toString();
        expect(text, context).toBe(expected[i]!.text);
        expect(page.sha256, context).toBe(sha256(text));
        expect({ first: page.first_row, rows: page.rows, bytes: page.bytes }, context).toEqual({ first: expected[i]!.span.firstRow, rows: expected[i]!.span.rows, bytes: expected[i]!.span.bytes });
      }
      // Every key's entry points at its record's exact bytes in its page.
      for (let i = 0; i < n; i++) {
        const shard = readFileSync(plan.shardFiles[itemShardOf(`K${i}`, plan.shardFiles.length)]!, "utf8");
        const at = findItemEntry(shard, `K${i}`)!;
        expect(at, context).not.toBeNull();
        const page = Buffer.from(expected[at.page]!.text);
        expect(page.subarray(at.offset, at.offset + at.length).toString(), context).toBe(rows[i]);
      }
    }
  });

  it("cuts where a hand-worked example says: after a cut row past the minimum, before a row that would pass the maximum", async () => {
    // Rows whose cut status is known without the planner: a row is a cut row when its hash falls
    // under rowBytes / (target - min) of the 32-bit range, so with target - min = rowBytes every row
    // is one, and with a huge target none is (a 2^-20 chance for these rows, checked below).
    const rows = ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}", "{\"a\":4}"]; // 7 bytes each
    const bytes = (row: string) => Buffer.from(row);
    const every: PageLimits = { minBytes: 1, targetBytes: 8, maxBytes: 1000 };
    const none: PageLimits = { minBytes: 1, targetBytes: 7 * 2 ** 20, maxBytes: 17 };
    for (const row of rows) {
      expect(isCutRow(rowHash(bytes(row)), 7, every)).toBe(true);
      expect(isCutRow(rowHash(bytes(row)), 7, none)).toBe(false);
    }
    const dir = path.join(temp.dir, "hand");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dir);
    const rowsFile = path.join(dir, "rows.ndjson");
    writeFileSync(rowsFile, rows.map((r) => `${r}\n`).join(""));
    // Every row a cut row: one row per page, "[" row "]" = 9 bytes each.
    const each = await planVersion({ rowsFile, pageLimits: every });
    expect(each.pages.map((p) => [p.first_row, p.rows, p.bytes])).toEqual([[0, 1, 9], [1, 1, 9], [2, 1, 9], [3, 1, 9]]);
    // No cut row and a 17-byte maximum: "[r1,r2]" is 2 + 7 + 1 + 7 = 17 bytes, a third row would pass it.
    const capped = await planVersion({ rowsFile, pageLimits: none });
    expect(capped.pages.map((p) => [p.first_row, p.rows, p.bytes])).toEqual([[0, 2, 17], [2, 2, 17]]);
    expect((await readPage(rowsFile, capped.pages[1]!)).toString()).toBe(`[${rows[2]},${rows[3]}]`);
  });

  it("fails when a shard cannot be written, rather than publish a shard missing its items", async () => {
    const dir = path.join(temp.dir, "unwritable");
    const { mkdirSync } = await import("node:fs");
    // Shard 0's file is a directory, so every append to it fails (root ignores file modes).
    mkdirSync(path.join(dir, "shards", "0.tsv"), { recursive: true });
    const rows = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ k: `K${i}`, pad: "x".repeat(100) }));
    writeFileSync(path.join(dir, "rows.ndjson"), rows.map((r) => `${r}\n`).join(""));
    writeFileSync(path.join(dir, "keys.ndjson"), rows.map((_, i) => `${JSON.stringify({ k: `K${i}` })}\n`).join(""));
    const planned = planVersion({ rowsFile: path.join(dir, "rows.ndjson"), keysFile: path.join(dir, "keys.ndjson"), keyName: "k", shardDir: path.join(dir, "shards") });
    await expect(planned).rejects.toMatchObject({ code: "EISDIR" });
  });
});
