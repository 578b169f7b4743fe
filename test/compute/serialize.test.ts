import pl from "nodejs-polars";
import { describe, expect, it } from "vitest";
import { serializeSnapshot } from "../../compute/run/serialize.ts";

const decode = (body: Uint8Array) => new TextDecoder().decode(body);
const records = (df: pl.DataFrame) => JSON.parse(decode(serializeSnapshot(df).body)) as Record<string, unknown>[];

describe("serializeSnapshot", () => {
  it("writes a JSON array of records with keys in column order", () => {
    const df = pl.DataFrame({ b: ["x", "y"], a: [1, 2], ok: [true, null] }).withColumns(pl.col("a").cast(pl.Int32));
    const text = decode(serializeSnapshot(df).body);
    expect(text).toBe('[{"b":"x","a":1,"ok":true},{"b":"y","a":2,"ok":null}]');
  });

  it("writes an empty frame as an empty array", () => {
    const df = pl.DataFrame({ a: [1, 2] }).head(0);
    expect(decode(serializeSnapshot(df).body)).toBe("[]");
  });

  it("writes Date columns as YYYY-MM-DD strings", () => {
    const df = pl.DataFrame({ d: [new Date("2001-01-31T12:00:00Z"), null] }).withColumns(pl.col("d").cast(pl.Date));
    expect(df.dtypes[0]!.variant).toBe("Date");
    expect(records(df)).toEqual([{ d: "2001-01-31" }, { d: null }]);
  });

  it("writes naive Datetime columns as ISO-8601 UTC with milliseconds and Z", () => {
    const df = pl.DataFrame({ t: [new Date("2001-01-01T00:01:00.250Z")] }).withColumns(pl.col("t").cast(pl.Datetime("us")));
    expect(records(df)).toEqual([{ t: "2001-01-01T00:01:00.250Z" }]);
  });

  it("converts zoned Datetime columns to UTC", () => {
    const df = pl
      .DataFrame({ t: [new Date("2020-01-02T03:04:05.678Z")] })
      .withColumns(pl.col("t").cast(pl.Datetime("ms", "UTC")).dt.convertTimeZone("America/New_York"));
    // The frame shows New York wall time (22:04 the day before); the JSON must be the UTC instant.
    expect(records(df)).toEqual([{ t: "2020-01-02T03:04:05.678Z" }]);
    expect(new Date(records(df)[0]!.t as string).getTime()).toBe(Date.parse("2020-01-02T03:04:05.678Z"));
  });

  it("writes NaN, Infinity and -Infinity as null in Float64 and Float32 columns", () => {
    const df = pl
      .DataFrame({ f: [1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null] })
      .withColumns(pl.col("f").cast(pl.Float32).alias("g"));
    expect(records(df).map((r) => [r.f, r.g])).toEqual([[1.5, 1.5], [null, null], [null, null], [null, null], [null, null]]);
  });

  it("writes an Int64 column with a value beyond 2^53-1 entirely as strings", () => {
    const big = pl.Series("id", ["1", "-3", "9007199254740993"]).cast(pl.Int64);
    const small = pl.Series("n", ["1", "2", "9007199254740991"]).cast(pl.Int64);
    const result = serializeSnapshot(pl.DataFrame([big, small]));
    expect(JSON.parse(decode(result.body))).toEqual([
      { id: "1", n: 1 },
      { id: "-3", n: 2 },
      { id: "9007199254740993", n: 9007199254740991 },
    ]);
    expect(result.columns).toEqual([
      { name: "id", type: "String" },
      { name: "n", type: "Int64" },
    ]);
  });

  it("writes an Int64 column with a value below -(2^53-1) as strings", () => {
    const df = pl.DataFrame([pl.Series("x", ["5", "-9007199254740993"]).cast(pl.Int64)]);
    expect(records(df)).toEqual([{ x: "5" }, { x: "-9007199254740993" }]);
  });

  it("writes a UInt64 column beyond 2^53-1 as strings", () => {
    const df = pl.DataFrame([pl.Series("u", ["18446744073709551615", "7"]).cast(pl.UInt64)]);
    expect(records(df)).toEqual([{ u: "18446744073709551615" }, { u: "7" }]);
  });

  it("reports each column's polars type in the manifest column list", () => {
    const df = pl
      .DataFrame({ name: ["a"], when: [new Date("2001-01-01T00:00:00Z")], x: [1.5] })
      .withColumns(pl.col("when").cast(pl.Date));
    expect(serializeSnapshot(df).columns).toEqual([
      { name: "name", type: "String" },
      { name: "when", type: "Date" },
      { name: "x", type: "Float64" },
    ]);
  });

  it("gives byte-identical bodies for equal frames", () => {
    const make = () => pl.DataFrame({ a: [1, 2, 3], b: ["x", "y", "z"], c: [0.1, 0.2, Number.NaN] });
    expect(decode(serializeSnapshot(make()).body)).toBe(decode(serializeSnapshot(make()).body));
  });
});
