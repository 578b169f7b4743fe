/**
 * The formats published beside the JSON pages, with real polars on real files: CSV, NDJSON and
 * Parquet each hold the same rows, in the same order, with the same values as the JSON body; a run
 * uploads each as one object named in the version's `formats`, only the formats the dataset asks
 * for, nothing when unchanged, and deletes them when its publish fails.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import pl from "nodejs-polars";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatKeysOf, formatObjectKey, FORMAT_CONTENT_TYPES, manifestObjectKey, type Format } from "../../contract/index.ts";
import type { Config } from "../../compute/config.ts";
import { defineDataset, type DataFrame } from "../../compute/dataset/define.ts";
import { EdgesnapError } from "../../compute/errors.ts";
import { CSV_LINE_TERMINATOR, writeFormats, type FormatFile } from "../../compute/publish/formats.ts";
import { runDataset } from "../../compute/run/run.ts";
import { inspectFrame, normalizeFrame } from "../../compute/run/serialize.ts";
import { sha256Hex } from "../../compute/storage/hash.ts";
import type { ObjectStore } from "../../compute/storage/index.ts";
import type { PutOptions } from "../../contract/storage.ts";
import { csvMismatches } from "../support/csv.ts";
import { bodyFromParquet, kitchenSink } from "../support/frames.ts";
import { listKeys, makeTempDir, memoryLogger, openLocalTestStore, readPublished, runConfig, serializeFrame } from "./helpers.ts";

/** A frame's formats, written the way a run writes them, with the JSON body beside them. */
async function formatsOf(frame: DataFrame, dir: string, formats: readonly Format[] = ["csv", "ndjson", "parquet"]) {
  const serialized = await serializeFrame(frame, { keep: dir });
  const lazy = frame.lazy();
  const files = await writeFormats({
    frame: lazy,
    normalized: normalizeFrame(lazy, serialized.facts),
    facts: serialized.facts,
    rowsFile: serialized.plan.rowsFile,
    dir,
    formats,
  });
  const byFormat = Object.fromEntries(files.map((file) => [file.format, file])) as Partial<Record<Format, FormatFile>>;
  return { body: serialized.body, rows: JSON.parse(serialized.body) as Record<string, unknown>[], columns: serialized.columns, files, byFormat };
}

/** Checks a CSV text holds exactly `rows` (header = column names) and is RFC 4180 with CRLF. */
function expectCsvHolds(text: string, columns: string[], rows: Record<string, unknown>[]): void {
  expect(csvMismatches(text, columns, rows).slice(0, 5)).toEqual([]);
}

describe("writeFormats", () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    temp = await makeTempDir("formats");
  });
  afterAll(async () => temp?.remove());

  it("writes CSV (RFC 4180, CRLF) holding the JSON's rows, in order, with the JSON's values", async () => {
    const dir = path.join(temp.dir, "csv");
    const { rows, columns, byFormat } = await formatsOf(kitchenSink(), dir);
    const text = await readFile(byFormat.csv!.file, "utf8");
    expectCsvHolds(text, columns.map((c) => c.name), rows);
    // The rules the JSON applies reach the CSV too: dates, NaN, wide integers, nested values.
    expect(text).toContain('\r\nk2,"line\nbreak",');
    expect(text.split(CSV_LINE_TERMINATOR)[1]).toMatch(/^k0,"a,b",0\.1,1,true,"\[1\.5,2\.0\]","\{""a"":1\.0,""b"":""x\\""1""\}",10000000000000000,/);
  });

  it("writes NDJSON whose lines are, byte for byte, the rows of the JSON body", async () => {
    const { body, byFormat } = await formatsOf(kitchenSink(), path.join(temp.dir, "ndjson"));
    const text = await readFile(byFormat.ndjson!.file, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    expect(`[${text.slice(0, -1).split("\n").join(",")}]`).toBe(body);
  });

  it("writes Parquet with polars' types that reads back, by the same rules, as the JSON body", async () => {
    const dir = path.join(temp.dir, "parquet");
    const { body, byFormat } = await formatsOf(kitchenSink(), dir);
    const back = pl.readParquet(byFormat.parquet!.file);
    expect(back.dtypes.map(String)).toEqual(kitchenSink().dtypes.map(String));
    expect(await bodyFromParquet(byFormat.parquet!.file, dir)).toBe(body);
  });

  it("keeps the row order of a frame large enough for polars to stream it in batches", async () => {
    const dir = path.join(temp.dir, "large");
    const n = 300_000;
    const frame = pl.DataFrame({ i: Array.from({ length: n }, (_, i) => n - i), s: Array.from({ length: n }, (_, i) => `row ${i}, "quoted"`) });
    const { body, rows, byFormat } = await formatsOf(frame, dir);
    expectCsvHolds(await readFile(byFormat.csv!.file, "utf8"), ["i", "s"], rows);
    expect(await bodyFromParquet(byFormat.parquet!.file, dir)).toBe(body);
  });

  it("records each file's size and sha256, and writes only the formats asked for", async () => {
    const { files } = await formatsOf(kitchenSink(), path.join(temp.dir, "hashes"));
    for (const file of files) {
      const bytes = await readFile(file.file);
      expect({ bytes: file.bytes, sha256: file.sha256 }).toEqual({ bytes: bytes.byteLength, sha256: sha256Hex(bytes) });
    }
    expect((await formatsOf(kitchenSink(), path.join(temp.dir, "only-parquet"), ["parquet"])).files.map((f) => f.format)).toEqual(["parquet"]);
    expect((await formatsOf(kitchenSink(), path.join(temp.dir, "none"), [])).files).toEqual([]);
  });

  it("fails with one line naming the format polars could not write", async () => {
    const lazy = pl.DataFrame({ a: [1] }).lazy();
    const facts = await inspectFrame(lazy, null);
    const error = await writeFormats({ frame: lazy, normalized: lazy, facts, rowsFile: "x", dir: path.join(temp.dir, "missing", "dir"), formats: ["csv"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgesnapError);
    expect((error as EdgesnapError).code).toBe("build-failed");
    expect((error as Error).message).toMatch(/^writing csv failed: .*\(leave csv out of the dataset's formats\)$/);
    expect((error as Error).message).not.toContain("\n");
  });
});

describe("defineDataset formats", () => {
  const base = { name: "fmt", schedule: "* * * * *", build: () => pl.DataFrame({}) };

  it("defaults to every format and accepts a subset or none", () => {
    expect(defineDataset(base).formats).toEqual(["csv", "ndjson", "parquet"]);
    expect(defineDataset({ ...base, formats: ["parquet"] }).formats).toEqual(["parquet"]);
    expect(defineDataset({ ...base, formats: [] }).formats).toEqual([]);
  });

  it("refuses an unknown or repeated format with a config error", () => {
    expect(() => defineDataset({ ...base, formats: ["xlsx" as Format] })).toThrow(/dataset "fmt": unknown format "xlsx" \(expected csv, ndjson, parquet\)/);
    expect(() => defineDataset({ ...base, formats: ["csv", "csv"] })).toThrow(/formats lists a format twice/);
  });
});

describe("a run publishing formats", () => {
  let persist: Awaited<ReturnType<typeof makeTempDir>>;
  let tempRoot: Awaited<ReturnType<typeof makeTempDir>>;
  let store: ObjectStore;
  let config: Config;

  beforeAll(async () => {
    persist = await makeTempDir("formats-persist");
    tempRoot = await makeTempDir("formats-temp");
    store = await openLocalTestStore(persist.dir);
    config = runConfig(persist.dir, tempRoot.dir);
  });
  afterAll(async () => {
    await store?.close();
    await persist?.remove();
    await tempRoot?.remove();
  });

  const dataset = (name: string, values: () => number[], formats?: Format[]) =>
    defineDataset({
      name,
      schedule: "* * * * *",
      description: `the ${name} fixture`,
      key: "id",
      ...(formats ? { formats } : {}),
      build: ({ pl }) => pl.DataFrame({ id: values().map((_, i) => `k${i}`), value: values() }),
    });
  const run = (definition: ReturnType<typeof dataset>, on: ObjectStore = store) => runDataset(definition, { config, store: on, log: memoryLogger().log, notify: false });

  it("uploads each format as one object and records its bytes and sha256 in the version", async () => {
    const result = await run(dataset("fmt-all", () => [1, 2, 3]));
    expect(result.outcome).toBe("ok");
    const { head, current } = (await readPublished(store, "fmt-all"))!;
    expect(head.description).toBe("the fmt-all fixture");
    const info = current!;
    expect(Object.keys(info.formats).sort()).toEqual(["csv", "ndjson", "parquet"]);
    // CSV and Parquet are one object each; NDJSON is stored cut like the pages, shared between versions.
    expect(info.formats.ndjson!.paged).toBe(true);
    expect(formatKeysOf(info, "csv")).toEqual([formatObjectKey("fmt-all", result.version!, "csv")]);
    for (const format of ["csv", "ndjson", "parquet"] as const) {
      const parts = await Promise.all(formatKeysOf(info, format).map(async (key) => Buffer.from(await new Response((await store.get(key))!.body).arrayBuffer())));
      const bytes = Buffer.concat(parts);
      expect({ bytes: bytes.byteLength, sha256: sha256Hex(bytes) }).toEqual({ bytes: info.formats[format]!.bytes, sha256: info.formats[format]!.sha256 });
    }
    const csv = await (await store.get(formatObjectKey("fmt-all", result.version!, "csv")))!.text();
    expect(csv).toBe("id,value\r\nk0,1.0\r\nk1,2.0\r\nk2,3.0\r\n");
  });

  it("publishes only the dataset's formats, and JSON only for formats: []", async () => {
    const only = await run(dataset("fmt-parquet", () => [1, 2], ["parquet"]));
    const none = await run(dataset("fmt-none", () => [1, 2], []));
    expect((await readPublished(store, "fmt-parquet"))!.current!.formats).toEqual({ parquet: expect.any(Object) });
    expect((await readPublished(store, "fmt-none"))!.current!.formats).toEqual({});
    expect((await listKeys(store, "datasets/fmt-none/")).filter((key) => key.endsWith(".ndjson"))).toEqual([]);
    expect((await listKeys(store, "datasets/fmt-parquet/")).filter((key) => key.includes("/data."))).toEqual([formatObjectKey("fmt-parquet", only.version!, "parquet")]);
    expect((await listKeys(store, "datasets/fmt-none/")).filter((key) => key.includes("/data."))).toEqual([]);
    expect(none.outcome).toBe("ok");
  });

  it("writes and uploads no format when the content is unchanged", async () => {
    const definition = dataset("fmt-unchanged", () => [4, 5]);
    const first = memoryLogger();
    await runDataset(definition, { config, store, log: first.log, notify: false });
    expect(first.records.filter((r) => r.event === "formats written")).toHaveLength(1);
    const before = await listKeys(store, "datasets/fmt-unchanged/versions/");
    const puts: string[] = [];
    const watching: ObjectStore = { ...store, kind: store.kind, put: (key, body, options?: PutOptions) => (puts.push(key), store.put(key, body, options)) };
    const second = memoryLogger();
    expect((await runDataset(definition, { config, store: watching, log: second.log, notify: false })).outcome).toBe("unchanged");
    // polars wrote no CSV or Parquet for it: the hash decided first.
    expect(second.records.filter((r) => r.event === "formats written")).toEqual([]);
    expect(puts.filter((key) => key.includes("/versions/"))).toEqual([]);
    expect(await listKeys(store, "datasets/fmt-unchanged/versions/")).toEqual(before);
  });

  it("deletes its version's format objects when its publish fails, and leaves shared pages to the collector", async () => {
    const uploaded: string[] = [];
    const failing: ObjectStore = {
      ...store,
      kind: store.kind,
      async put(key, body, options) {
        if (key === manifestObjectKey("fmt-failed")) throw new Error("manifest write refused");
        const info = await store.put(key, body, options);
        if (options?.contentType && Object.values(FORMAT_CONTENT_TYPES).includes(options.contentType)) uploaded.push(key);
        return info;
      },
    };
    const result = await run(dataset("fmt-failed", () => [7, 8]), failing);
    expect(result.outcome).toBe("failed");
    expect(uploaded.filter((key) => key.includes("/versions/"))).toHaveLength(2);
    expect(uploaded.filter((key) => key.endsWith(".ndjson"))).toHaveLength(1);
    const left = await listKeys(store, "datasets/fmt-failed/");
    expect(left.filter((key) => key.includes("/versions/"))).toEqual([]);
    expect(left.every((key) => /^datasets\/fmt-failed\/(pages|items)\/[0-9a-f]{64}\.(json|deflate|ndjson|tsv)$/.test(key))).toBe(true);
  });
});
