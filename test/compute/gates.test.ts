/**
 * Validation gates and item keys, on the facts polars reports for real frames: what makes a
 * snapshot unpublishable, with the message an operator reads.
 */
import pl from "nodejs-polars";
import { describe, expect, it } from "vitest";
import { fnv1a32, fnv1a32Bytes, itemKeyProblem, itemShardOf as shardOf, type VersionSummary } from "../../contract/index.ts";
import { defineDataset } from "../../compute/dataset/define.ts";
import { checkGates, referenceRows, ROW_DROP_WINDOW } from "../../compute/run/gates.ts";
import { inspectFrame, type FrameFacts } from "../../compute/run/serialize.ts";
import { serializeFrame } from "./helpers.ts";

const build = ({ pl: polars }: { pl: typeof pl }) => polars.DataFrame({});
const versionWith = (rows: number): VersionSummary => ({
  version: "20261123T161500123Z-3fa9c2d1",
  hash: "0".repeat(64),
  generated_at: "2026-11-23T16:15:00.123Z",
  rows,
  bytes: 10,
});
const facts = (df: pl.DataFrame, key: string | null = null): Promise<FrameFacts> => inspectFrame(df.lazy(), key);
const frame = (ids: (string | null)[]) => pl.DataFrame({ id: ids, v: ids.map((_, i) => i) });
const rejection = async (fn: () => Promise<void> | void) => {
  try {
    await fn();
  } catch (error) {
    return error as { code: string; message: string; exitCode: number };
  }
  throw new Error("expected a gate rejection");
};

describe("checkGates", () => {
  const plain = defineDataset({ name: "g", schedule: "* * * * *", build });

  it("rejects an empty snapshot by default (minRows 1) with exit code 5", async () => {
    const f = await facts(frame([]));
    const error = await rejection(() => checkGates(f, plain, []));
    expect(error).toMatchObject({ code: "gate-rejected", exitCode: 5 });
    expect(error.message).toMatch(/0 rows, fewer than minRows 1/);
  });

  it("rejects more rows than maxRows", async () => {
    const limited = defineDataset({ name: "g", schedule: "* * * * *", gates: { maxRows: 2 }, build });
    expect((await rejection(async () => checkGates(await facts(frame(["a", "b", "c"])), limited, []))).message).toMatch(/more than maxRows 2/);
    expect(checkGates(await facts(frame(["a", "b"])), limited, [])).toBeUndefined();
  });

  it("rejects a row drop beyond maxRowDropRatio versus the current version, and allows one within it", async () => {
    const guarded = defineDataset({ name: "g", schedule: "* * * * *", gates: { maxRowDropRatio: 0.5 }, build });
    expect((await rejection(async () => checkGates(await facts(frame(["a"])), guarded, [versionWith(4)]))).message).toMatch(/75\.0% drop from 4/);
    expect(checkGates(await facts(frame(["a", "b"])), guarded, [versionWith(4)])).toBeUndefined();
    expect(checkGates(await facts(frame(["a"])), guarded, [])).toBeUndefined();
  });

  it("compares a row drop against the most rows among the last few versions, so halving again and again is caught", async () => {
    const guarded = defineDataset({ name: "g", schedule: "* * * * *", gates: { maxRowDropRatio: 0.6 }, build });
    // 1000 -> 500 passes (50%), then 500 -> 250 would pass against 500 alone; against 1000 it is 75%.
    const retained = [versionWith(500), versionWith(1000)];
    const ids = Array.from({ length: 250 }, (_, i) => `k${i}`);
    const error = await rejection(async () => checkGates(await facts(frame(ids)), guarded, retained));
    expect(error.message).toMatch(/75\.0% drop from 1000, the most rows among the last 5 versions/);
    expect(referenceRows([versionWith(1), ...Array.from({ length: ROW_DROP_WINDOW }, () => versionWith(2)), versionWith(99)])).toBe(2);
  });

  it("skips the row gates for a forced rebuild but never the key checks", async () => {
    const keyedGuarded = defineDataset({ name: "g", schedule: "* * * * *", key: "id", gates: { minRows: 10 }, build });
    expect(checkGates(await facts(frame(["a"]), "id"), keyedGuarded, [], { rowGates: false })).toBeUndefined();
    expect((await rejection(async () => checkGates(await facts(frame(["a", "a"]), "id"), keyedGuarded, [], { rowGates: false }))).message).toMatch(/duplicate/);
  });

  describe("on a keyed dataset", () => {
    const keyed = defineDataset({ name: "g", schedule: "* * * * *", key: "id", build });
    it("rejects a missing key column", async () => {
      expect((await rejection(async () => checkGates(await facts(pl.DataFrame({ other: [1] }), "id"), keyed, []))).message).toMatch(/key column "id" is missing/);
    });
    it("rejects null keys", async () => {
      expect((await rejection(async () => checkGates(await facts(frame(["a", null]), "id"), keyed, []))).message).toMatch(/1 null values/);
    });
    it("rejects NaN keys", async () => {
      const df = pl.DataFrame({ id: [1.5, Number.NaN, 2.5] });
      expect((await rejection(async () => checkGates(await facts(df, "id"), keyed, []))).message).toMatch(/1 NaN values/);
    });
    it("rejects duplicate keys, naming one", async () => {
      expect((await rejection(async () => checkGates(await facts(frame(["a", "b", "a"]), "id"), keyed, []))).message).toMatch(/1 duplicate values, e\.g\. "a"/);
    });
    it("accepts unique, non-null keys", async () => {
      expect(checkGates(await facts(frame(["a", "b"]), "id"), keyed, [])).toBeUndefined();
    });
  });
});

describe("item keys", () => {
  it("are one rule for both sides: keys that cannot round-trip as one URL path segment are refused", () => {
    expect(itemKeyProblem("ORD")).toBeNull();
    expect(itemKeyProblem("a/b c é")).toBeNull();
    expect(itemKeyProblem(".")).toMatch(/dot-segment/);
    expect(itemKeyProblem("..")).toMatch(/dot-segment/);
    expect(itemKeyProblem("")).toMatch(/empty/);
    expect(itemKeyProblem("a\tb")).toMatch(/control character/);
    expect(itemKeyProblem("\ud800")).toMatch(/lone surrogate/);
    expect(itemKeyProblem("x".repeat(257))).toMatch(/longer than 256 bytes/);
  });

  it("a snapshot with a dot-segment key is refused when its rows are planned", async () => {
    const error = await rejection(async () => {
      await serializeFrame(pl.DataFrame({ id: ["ok", ".."] }), { key: "id" });
    });
    expect(error).toMatchObject({ code: "gate-rejected" });
    expect(error.message).toMatch(/item key "\.\." is a dot-segment/);
  });

  it("a snapshot with a control character in a key is refused", async () => {
    const error = await rejection(async () => {
      await serializeFrame(pl.DataFrame({ id: ["ok", "bad\nkey"] }), { key: "id" });
    });
    expect(error.message).toMatch(/control character/);
  });

  it("hash the same from a string as from its UTF-8 bytes, so the publisher and the edge agree", () => {
    const reference = (key: string) => {
      let hash = 0x811c9dc5;
      for (const byte of new TextEncoder().encode(key)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
      return hash >>> 0;
    };
    const keys = ["", "ORD", "é", "✈", "𝄞 clef", "日本語", "\u07ff\u0800\uffff", "x".repeat(300), "lone \ud800 surrogate"];
    for (let i = 0; i < 500; i++) keys.push(String.fromCodePoint(...Array.from({ length: 4 }, (_, j) => (i * 7919 + j * 104_729) % 0x10ffff)).replace(/[\ud800-\udfff]/g, "x"));
    for (const key of keys) {
      expect(fnv1a32(key), key).toBe(reference(key));
      expect(fnv1a32Bytes(new TextEncoder().encode(key)), key).toBe(reference(key));
    }
  });

  it("puts every record in the shard the edge will look in, keyed by String(value)", async () => {
    const ids = Array.from({ length: 120_000 }, (_, i) => i);
    const result = await serializeFrame(pl.DataFrame({ id: ids, label: ids.map((i) => `item-${i}`.repeat(5)) }).withColumns(pl.col("id").cast(pl.Int32)), { key: "id" });
    expect(result.shards.length).toBeGreaterThan(1);
    let seen = 0;
    const pages = result.pages.map((page) => Buffer.from(page));
    for (const [index, shard] of result.shards.entries()) {
      for (const line of shard.split("\n").filter(Boolean)) {
        const key = line.slice(0, line.indexOf("\t"));
        expect(shardOf(key, result.shards.length)).toBe(index);
        const [, page, offset, length] = line.split("\t").map(Number) as [number, number, number, number];
        expect(String((JSON.parse(pages[page]!.subarray(offset, offset + length).toString()) as { id: number }).id)).toBe(key);
        seen++;
      }
    }
    expect(seen).toBe(ids.length);
    expect(JSON.parse(result.item("123")!)).toEqual({ id: 123, label: "item-123".repeat(5) });
  });

  it("keeps an item whose key is __proto__ like any other", async () => {
    const result = await serializeFrame(pl.DataFrame({ id: ["__proto__", "constructor"], n: [1, 2] }), { key: "id" });
    expect(JSON.parse(result.item("__proto__")!)).toEqual({ id: "__proto__", n: 1 });
    expect(JSON.parse(result.item("constructor")!)).toEqual({ id: "constructor", n: 2 });
  });
});
