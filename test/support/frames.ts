/**
 * Polars frames and checks shared by the tests of the published formats (Node only): a frame with
 * every kind of value the serialization rules or the CSV rules treat specially, and the JSON body a
 * Parquet file stands for.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import pl from "nodejs-polars";
import { inspectFrame, normalizeFrame, writeRowFiles } from "../../compute/run/serialize.ts";

/** Eight rows of every kind of value (strings to quote, NaN, wide integers, dates, nested, ...). */
export function kitchenSink(): pl.DataFrame {
  return pl
    .DataFrame({
      id: ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"],
      s: ["a,b", 'say "hi"', "line\nbreak", "crlf\r\nend", "", null, "é 日本", " padded "],
      f: [0.1, 1e-7, 1e21, Number.NaN, Number.POSITIVE_INFINITY, -0, null, 2.5],
      n: [1, 2, 3, null, 5, 6, 7, 8],
      b: [true, false, null, true, false, true, false, true],
      l: [[1.5, 2], [3], null, [], [4], [5, 6, 7], [8], [9]],
      st: [1, 2, 3, 4, 5, 6, 7, 8].map((a) => ({ a, b: `x"${a}` })),
    })
    .withColumns(
      pl.col("n").cast(pl.Int32),
      pl.col("n").cast(pl.Int64).mul(pl.lit(10_000_000_000_000_000n).cast(pl.Int64)).alias("big"),
      pl.col("f").cast(pl.Float32).alias("f32"),
      pl.col("n").cast(pl.Int64).mul(pl.lit(86_400_000)).cast(pl.Datetime("ms")).cast(pl.Date).alias("d"),
      pl.col("n").cast(pl.Int64).mul(pl.lit(3_600_123)).cast(pl.Datetime("ms")).alias("dt"),
      pl.col("n").cast(pl.Int64).mul(pl.lit(3_600_000_000)).cast(pl.Datetime("us", "America/New_York")).alias("zoned"),
      pl.col("n").cast(pl.Int64).mul(pl.lit(1_500_000_000)).cast(pl.Time).alias("t"),
      pl.col("n").cast(pl.Int64).mul(pl.lit(1500)).cast(pl.Duration("ms")).alias("dur"),
      pl.col("n").cast(pl.Decimal(10, 2)).alias("dec"),
      pl.col("s").cast(pl.Categorical).alias("cat"),
    );
}

/**
 * Reads a Parquet file back with polars and serializes it by the same rules as a run: the JSON body
 * it stands for. `dir` is a scratch dir for the rows file.
 */
export async function bodyFromParquet(file: string, dir: string): Promise<string> {
  const lazy = pl.readParquet(file).lazy();
  const facts = await inspectFrame(lazy, null);
  const rows = path.join(dir, `from-${path.basename(file)}.ndjson`);
  await writeRowFiles(normalizeFrame(lazy, facts), { rows });
  const lines = (await readFile(rows, "utf8")).split("\n").filter((line) => line !== "");
  return `[${lines.join(",")}]`;
}
