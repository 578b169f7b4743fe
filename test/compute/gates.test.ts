import pl from "nodejs-polars";
import { describe, expect, it } from "vitest";
import { shardCountFor, shardOf, type VersionInfo } from "../../contract/index.ts";
import { defineDataset } from "../../compute/dataset/define.ts";
import { buildItemShards } from "../../compute/publish/shards.ts";
import { checkGates } from "../../compute/run/gates.ts";
import { serializeSnapshot } from "../../compute/run/serialize.ts";

const build = ({ pl: polars }: { pl: typeof pl }) => polars.DataFrame({});
const previousWith = (rows: number): VersionInfo => ({
  version: "20261123T161500123Z-3fa9c2d1",
  hash: "0".repeat(64),
  generated_at: "2026-11-23T16:15:00.123Z",
  rows,
  bytes: 10,
  columns: [],
  key: null,
  shards: 0,
});
const frame = (ids: (string | null)[]) => pl.DataFrame({ id: ids, v: ids.map((_, i) => i) });
const rejection = (fn: () => void) => {
  try {
    fn();
  } catch (error) {
    return error as { code: string; message: string; exitCode: number };
  }
  throw new Error("expected a gate rejection");
};

describe("checkGates", () => {
  const plain = defineDataset({ name: "g", schedule: "* * * * *", build });

  it("rejects an empty snapshot by default (minRows 1) with exit code 5", () => {
    const error = rejection(() => checkGates(frame([]), plain, null));
    expect(error).toMatchObject({ code: "gate-rejected", exitCode: 5 });
    expect(error.message).toMatch(/0 rows, fewer than minRows 1/);
  });

  it("rejects more rows than maxRows", () => {
    const limited = defineDataset({ name: "g", schedule: "* * * * *", gates: { maxRows: 2 }, build });
    expect(rejection(() => checkGates(frame(["a", "b", "c"]), limited, null)).message).toMatch(/more than maxRows 2/);
    expect(() => checkGates(frame(["a", "b"]), limited, null)).not.toThrow();
  });

  it("rejects a row drop beyond maxRowDropRatio versus the current version, and allows one within it", () => {
    const guarded = defineDataset({ name: "g", schedule: "* * * * *", gates: { maxRowDropRatio: 0.5 }, build });
    expect(rejection(() => checkGates(frame(["a"]), guarded, previousWith(4))).message).toMatch(/75\.0% drop from 4/);
    expect(() => checkGates(frame(["a", "b"]), guarded, previousWith(4))).not.toThrow();
    expect(() => checkGates(frame(["a"]), guarded, null)).not.toThrow();
  });

  describe("on a keyed dataset", () => {
    const keyed = defineDataset({ name: "g", schedule: "* * * * *", key: "id", build });
    it("rejects a missing key column", () => {
      expect(rejection(() => checkGates(pl.DataFrame({ other: [1] }), keyed, null)).message).toMatch(/key column "id" is missing/);
    });
    it("rejects null keys", () => {
      expect(rejection(() => checkGates(frame(["a", null]), keyed, null)).message).toMatch(/1 null values/);
    });
    it("rejects duplicate keys", () => {
      expect(rejection(() => checkGates(frame(["a", "b", "a"]), keyed, null)).message).toMatch(/1 duplicate values/);
    });
    it("accepts unique, non-null keys", () => {
      expect(() => checkGates(frame(["a", "b"]), keyed, null)).not.toThrow();
    });
  });
});

describe("buildItemShards", () => {
  const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, Record<string, unknown>>;

  it("puts every record in the shard the edge will look in, keyed by String(value)", () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => i);
    const { body } = serializeSnapshot(pl.DataFrame({ id: ids, label: ids.map((i) => `item-${i}`.repeat(5)) }).withColumns(pl.col("id").cast(pl.Int32)));
    const shards = buildItemShards(body, "id");
    expect(shards.length).toBe(shardCountFor(body.byteLength));
    expect(shards.length).toBeGreaterThan(1);
    let seen = 0;
    for (const [index, shard] of shards.entries()) {
      for (const [key, record] of Object.entries(decode(shard))) {
        expect(shardOf(key, shards.length)).toBe(index);
        expect(String(record.id)).toBe(key);
        seen++;
      }
    }
    expect(seen).toBe(ids.length);
    expect(decode(shards[shardOf("123", shards.length)]!)["123"]).toEqual({ id: 123, label: "item-123".repeat(5) });
  });

  it("keeps an item whose key is __proto__ like any other", () => {
    const { body } = serializeSnapshot(pl.DataFrame({ id: ["__proto__", "constructor"], n: [1, 2] }));
    const [shard] = buildItemShards(body, "id");
    const parsed = decode(shard!);
    expect(Object.hasOwn(parsed, "__proto__")).toBe(true);
    expect(parsed["__proto__"]).toEqual({ id: "__proto__", n: 1 });
    expect(parsed["constructor"]).toEqual({ id: "constructor", n: 2 });
  });

  it("rejects a key that cannot be an item key (control characters)", () => {
    const { body } = serializeSnapshot(pl.DataFrame({ id: ["ok", "bad\nkey"] }));
    expect(() => buildItemShards(body, "id")).toThrow(/not a valid item key/);
  });
});
