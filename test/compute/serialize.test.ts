/**
 * The serialization rules and the page plan, on real polars frames through the real path: facts,
 * rules, polars' NDJSON writer, pages, and the body joined from the pages as the edge joins it.
 */
import { createHash } from "node:crypto";
import pl from "nodejs-polars";
import { describe, expect, it } from "vitest";
import { itemShardOf as shardOf, scaledPageLimits } from "../../contract/index.ts";
import { serializeFrame } from "./helpers.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const records = async (df: pl.DataFrame) => JSON.parse((await serializeFrame(df)).body) as Record<string, unknown>[];

describe("serialization rules", () => {
  it("writes a JSON array of records with keys in column order", async () => {
    const df = pl.DataFrame({ b: ["x", "y"], a: [1, 2], ok: [true, null] }).withColumns(pl.col("a").cast(pl.Int32));
    expect((await serializeFrame(df)).body).toBe('[{"b":"x","a":1,"ok":true},{"b":"y","a":2,"ok":null}]');
  });

  it("writes an empty frame as an empty array of one empty page", async () => {
    const result = await serializeFrame(pl.DataFrame({ a: [1, 2] }).head(0));
    expect(result.body).toBe("[]");
    expect(result.pages).toEqual(["[]"]);
    expect(result.plan).toMatchObject({ rows: 0, bytes: 2, hash: sha256("[]") });
  });

  it("writes Date columns as YYYY-MM-DD strings", async () => {
    const df = pl.DataFrame({ d: [new Date("2001-01-31T12:00:00Z"), null] }).withColumns(pl.col("d").cast(pl.Date));
    expect(df.dtypes[0]!.variant).toBe("Date");
    expect(await records(df)).toEqual([{ d: "2001-01-31" }, { d: null }]);
  });

  it("writes naive Datetime columns as ISO-8601 UTC with milliseconds and Z", async () => {
    const df = pl.DataFrame({ t: [new Date("2001-01-01T00:01:00.250Z")] }).withColumns(pl.col("t").cast(pl.Datetime("us")));
    expect(await records(df)).toEqual([{ t: "2001-01-01T00:01:00.250Z" }]);
  });

  it("converts zoned Datetime columns to UTC", async () => {
    const df = pl
      .DataFrame({ t: [new Date("2020-01-02T03:04:05.678Z")] })
      .withColumns(pl.col("t").cast(pl.Datetime("ms", "UTC")).dt.convertTimeZone("America/New_York"));
    // The frame shows New York wall time (22:04 the day before); the JSON must be the UTC instant.
    const [row] = await records(df);
    expect(row).toEqual({ t: "2020-01-02T03:04:05.678Z" });
  });

  it("writes NaN, Infinity and -Infinity as null in Float64 and Float32 columns, and marks them nullable", async () => {
    const df = pl
      .DataFrame({ f: [1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null] })
      .withColumns(pl.col("f").cast(pl.Float32).alias("g"));
    expect((await records(df)).map((r) => [r.f, r.g])).toEqual([[1.5, 1.5], [null, null], [null, null], [null, null], [null, null]]);
    const finite = await serializeFrame(pl.DataFrame({ f: [Number.NaN, 2.5] }));
    expect(finite.columns).toEqual([{ name: "f", type: "Float64", nullable: true }]);
  });

  it("writes an Int64 column with a value beyond 2^53-1 entirely as strings", async () => {
    const big = pl.Series("id", ["1", "-3", "9007199254740993"]).cast(pl.Int64);
    const small = pl.Series("n", ["1", "2", "9007199254740991"]).cast(pl.Int64);
    const result = await serializeFrame(pl.DataFrame([big, small]));
    expect(JSON.parse(result.body)).toEqual([
      { id: "1", n: 1 },
      { id: "-3", n: 2 },
      { id: "9007199254740993", n: 9007199254740991 },
    ]);
    expect(result.columns).toEqual([
      { name: "id", type: "String", nullable: false },
      { name: "n", type: "Int64", nullable: false },
    ]);
  });

  it("writes an Int64 column with a value below -(2^53-1) as strings", async () => {
    const df = pl.DataFrame([pl.Series("x", ["5", "-9007199254740993"]).cast(pl.Int64)]);
    expect(await records(df)).toEqual([{ x: "5" }, { x: "-9007199254740993" }]);
  });

  it("writes a UInt64 column beyond 2^53-1 as strings", async () => {
    const df = pl.DataFrame([pl.Series("u", ["18446744073709551615", "7"]).cast(pl.UInt64)]);
    expect(await records(df)).toEqual([{ u: "18446744073709551615" }, { u: "7" }]);
  });

  it("reports each column's polars type and nullability in the manifest column list", async () => {
    const df = pl
      .DataFrame({ name: ["a", null], when: [new Date("2001-01-01T00:00:00Z"), new Date("2001-01-02T00:00:00Z")], x: [1.5, 2] })
      .withColumns(pl.col("when").cast(pl.Date));
    expect((await serializeFrame(df)).columns).toEqual([
      { name: "name", type: "String", nullable: true },
      { name: "when", type: "Date", nullable: false },
      { name: "x", type: "Float64", nullable: false },
    ]);
  });

  it("gives byte-identical bodies for equal frames, lazy or not", async () => {
    const make = () => pl.DataFrame({ a: [1, 2, 3], b: ["x", "y", "z"], c: [0.1, 0.2, Number.NaN] });
    const eager = await serializeFrame(make());
    expect((await serializeFrame(make())).body).toBe(eager.body);
    expect((await serializeFrame(make().lazy())).body).toBe(eager.body);
  });

  it("writes non-ASCII text byte for byte, and the hash is the sha256 of the UTF-8 body", async () => {
    const df = pl.DataFrame({ s: ["é", "✈ Zürich", "日本語", "emoji 😀", 'quote " and \\ backslash'] });
    const result = await serializeFrame(df, { pageBytes: 30 });
    expect(JSON.parse(result.body)).toEqual(df.toRecords());
    expect(result.plan.hash).toBe(sha256(result.body));
    expect(result.plan.bytes).toBe(Buffer.byteLength(result.body));
  });
});

describe("pages", () => {
  const numbers = (n: number) => pl.DataFrame({ i: Array.from({ length: n }, (_, i) => i), s: Array.from({ length: n }, (_, i) => "x".repeat(i % 17)) });

  it("join back into the body polars writes for the whole frame, byte for byte; its sha256 is the version hash", async () => {
    const result = await serializeFrame(numbers(500), { pageBytes: 1_000 });
    expect(result.pages.length).toBeGreaterThan(10);
    expect(result.body).toBe(numbers(500).writeJSON({ format: "json" }).toString());
    expect(result.plan.hash).toBe(sha256(result.body));
  });

  it("are JSON arrays of whole rows, within the target, each with its sha256, rows and first row", async () => {
    const result = await serializeFrame(numbers(300), { pageBytes: 700 });
    let next = 0;
    for (const [index, text] of result.pages.entries()) {
      const page = result.plan.pages[index]!;
      const rows = JSON.parse(text) as unknown[];
      expect(page.first_row).toBe(next);
      expect(page.rows).toBe(rows.length);
      expect(page.bytes).toBe(Buffer.byteLength(text));
      expect(page.bytes).toBeLessThanOrEqual(scaledPageLimits(700).maxBytes);
      expect(page.sha256).toBe(sha256(text));
      next += rows.length;
    }
    expect(next).toBe(300);
  });

  it("ends a page exactly at the end of a row when the row fills it to the maximum, to the byte", async () => {
    // Rows `{"s":"xxxx"}` are 12 bytes: "[" + row + "," + row + "]" is 27 bytes, so a maximum of 27
    // fits exactly two rows and a third starts the next page (a minimum no page reaches: no cut row).
    const df = pl.DataFrame({ s: ["xxxx", "yyyy", "zzzz", "wwww"] });
    const result = await serializeFrame(df, { pageLimits: { minBytes: 1000, targetBytes: 2000, maxBytes: 27 } });
    expect(result.pages).toEqual(['[{"s":"xxxx"},{"s":"yyyy"}]', '[{"s":"zzzz"},{"s":"wwww"}]']);
  });

  it("gives a single row larger than the target a page of its own", async () => {
    const df = pl.DataFrame({ s: ["a", "b".repeat(5_000), "c"] });
    const result = await serializeFrame(df, { pageBytes: 100 });
    expect(result.pages.map((page) => (JSON.parse(page) as unknown[]).length)).toEqual([1, 1, 1]);
    expect(result.plan.pages[1]!.bytes).toBeGreaterThan(5_000);
    expect(JSON.parse(result.body)).toEqual(df.toRecords());
  });
});

describe("item shards", () => {
  it("hold each record's bytes exactly as they are in the body (-1.0 stays -1.0)", async () => {
    const df = pl.DataFrame({ id: ["a", "b", "c"], x: [-1.0, 2.5, 1e21] });
    const result = await serializeFrame(df, { key: "id" });
    expect(result.body).toContain('"x":-1.0');
    for (const key of ["a", "b", "c"]) {
      const item = result.item(key);
      expect(item).not.toBeNull();
      expect(result.body).toContain(item!);
      expect(JSON.parse(item!)).toEqual(df.toRecords().find((r) => r.id === key));
    }
    expect(result.item("a")).toBe('{"id":"a","x":-1.0}');
  });

  it("find keys that need decoding (non-ASCII, escaped quotes, floats) under the string a client sends", async () => {
    const df = pl.DataFrame({ id: ["é", "✈ Zürich", 'say "hi"', "back\\slash", "plain"], n: [1, 2, 3, 4, 5] });
    const result = await serializeFrame(df, { key: "id" });
    for (const [index, key] of ["é", "✈ Zürich", 'say "hi"', "back\\slash", "plain"].entries()) {
      expect(JSON.parse(result.item(key)!)).toEqual({ id: key, n: index + 1 });
    }
    const floats = await serializeFrame(pl.DataFrame({ id: [1.5, -2.25, 1e21], n: [1, 2, 3] }), { key: "id" });
    for (const key of ["1.5", "-2.25", "1e+21"]) expect(floats.item(key)).not.toBeNull();
    // Decoded keys mark their shards for the duplicate check at upload; plain ones (their own bytes) do not.
    const decodedShards = (list: string[], shards: number) => new Set(list.map((key) => shardOf(key, shards)));
    expect(floats.plan.decodedKeyShards).toEqual(decodedShards(["1.5", "-2.25", "1e+21"], floats.shards.length));
    expect(result.plan.decodedKeyShards).toEqual(decodedShards(["é", "✈ Zürich", 'say "hi"', "back\\slash"], result.shards.length));
    const plain = await serializeFrame(pl.DataFrame({ id: ["a", "b"], n: [1, 2] }), { key: "id" });
    const integers = await serializeFrame(pl.DataFrame([pl.Series("id", [1, -20, 300], pl.Int64)]), { key: "id" });
    expect([plain.plan.decodedKeyShards.size, integers.plan.decodedKeyShards.size]).toEqual([0, 0]);
  });

  it("keep a record larger than a shard's write buffer whole", async () => {
    const df = pl.DataFrame({ id: ["small", "huge", "other"], payload: ["a", "h".repeat(200_000), "b"] });
    const result = await serializeFrame(df, { key: "id" });
    expect(JSON.parse(result.item("huge")!)).toEqual({ id: "huge", payload: "h".repeat(200_000) });
    expect(JSON.parse(result.item("small")!)).toEqual({ id: "small", payload: "a" });
    expect(JSON.parse(result.item("other")!)).toEqual({ id: "other", payload: "b" });
  });

  it("spread a large keyed frame over many shards, every key in the shard its hash names", async () => {
    const n = 60_000;
    const df = pl.DataFrame({ id: Array.from({ length: n }, (_, i) => `key-${i}`), payload: Array.from({ length: n }, (_, i) => "p".repeat(20 + (i % 50))) });
    const result = await serializeFrame(df, { key: "id" });
    expect(result.shards.length).toBeGreaterThan(1);
    for (const i of [0, 1, 777, 12_345, n - 1]) {
      const key = `key-${i}`;
      expect(JSON.parse(result.item(key)!)).toEqual({ id: key, payload: "p".repeat(20 + (i % 50)) });
    }
    // Every key exactly once, in the shard its hash names, pointing at its record: the writes that
    // spill the shards run many at a time, and none is lost or torn.
    const seen = new Set<string>();
    const pages = result.pages.map((page) => Buffer.from(page));
    for (const [index, shard] of result.shards.entries()) {
      for (const line of shard.split("\n").filter(Boolean)) {
        const [key, page, offset, length] = line.split("\t") as [string, string, string, string];
        expect(shardOf(key, result.shards.length)).toBe(index);
        expect(seen.has(key)).toBe(false);
        seen.add(key);
        expect(pages[Number(page)]!.subarray(Number(offset), Number(offset) + Number(length)).toString()).toBe(JSON.stringify({ id: key, payload: "p".repeat(20 + (Number(key.slice(4)) % 50)) }));
      }
    }
    expect(seen.size).toBe(n);
  });
});
