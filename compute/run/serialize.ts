/**
 * Snapshot serialization: a polars frame becomes the rows every client reads. The frame is never
 * serialized whole in memory: polars' streaming engine writes it as NDJSON (one record per line) to
 * the run's temp dir, and the publisher cuts pages from that file (compute/publish/plan.ts). The
 * same frame always gives the same bytes, which is what makes "same hash = unchanged" work.
 *
 * ## Serialization rules (copied into the README)
 * The body is a JSON array of records, one object per row, keys in column order:
 * `[{"iata":"ORD","flights":166341,...}, ...]`, written by polars' own JSON writer after these
 * column normalizations:
 * - **Date** columns become `"YYYY-MM-DD"` strings.
 * - **Datetime** columns become ISO-8601 UTC strings with milliseconds, `"2001-01-01T00:01:00.000Z"`
 *   (the form JavaScript's `Date` parses and prints). Zoned datetimes are converted to UTC first;
 *   naive datetimes are taken to be UTC already. Sub-millisecond precision is dropped.
 * - **Float** NaN, Infinity and -Infinity become `null` (JSON has no way to say them).
 * - **Int64/UInt64** columns holding any value beyond ±(2^53-1) become strings, the whole column
 *   (`"9007199254740993"`), so a column always keeps one JSON type and no client silently rounds
 *   an id. Columns within the safe range stay numbers.
 * - Nulls are `null`; strings, booleans and other numbers are written as they are. Nested columns
 *   (List, Struct) are written by polars unchanged (their inner dates and floats are not rewritten).
 * The manifest's `columns` lists each column with the type its JSON values have (the polars dtype
 * name, or "String" for an integer column written as strings) and whether any value is null.
 */
import pl from "nodejs-polars";
import type { Column } from "../../contract/index.ts";
import type { LazyDataFrame } from "../dataset/define.ts";

/** The largest integer a JSON client using IEEE doubles (every browser) reads exactly. */
export const MAX_EXACT_JSON_INTEGER = Number.MAX_SAFE_INTEGER;

/** strftime format for UTC datetimes: ISO-8601 with milliseconds and "Z". */
const DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ";

const FLOATS = new Set(["Float32", "Float64"]);
const WIDE_INTEGERS = new Set(["Int64", "UInt64"]);

/** What one pass of polars learns about a frame before anything is written. */
export interface FrameFacts {
  rows: number;
  /** Columns as they will be written (types after the rules, nullability). */
  columns: Column[];
  /** Integer columns written as strings (a value beyond ±(2^53-1)). */
  unsafeIntegers: string[];
  /** About the key column of a keyed dataset; null when there is none or it is missing. */
  key: { name: string; nulls: number; nans: number; distinct: number; duplicateExample: string | null } | null;
  /** The frame's column names and polars dtypes, in order. */
  names: string[];
  dtypes: DataType[];
}

type DataType = pl.DataType;

/**
 * Learns the facts the rules and the gates need, in one aggregate query (plus one more, only when
 * the key column has duplicates, to name one).
 */
export async function inspectFrame(frame: LazyDataFrame, keyName: string | null): Promise<FrameFacts> {
  const empty = await frame.limit(0).collect();
  const names = empty.columns;
  const schema = empty.dtypes;
  const dtypes = schema.map((dtype) => dtype.variant as string);
  const exprs = [pl.len().alias("rows")];
  names.forEach((name, i) => {
    const column = pl.col(name);
    exprs.push(column.nullCount().alias(`nulls${i}`));
    if (FLOATS.has(dtypes[i]!)) exprs.push(column.isFinite().not().sum().alias(`nonfinite${i}`));
    if (WIDE_INTEGERS.has(dtypes[i]!)) {
      exprs.push(column.gt(pl.lit(MAX_EXACT_JSON_INTEGER)).or(column.lt(pl.lit(-MAX_EXACT_JSON_INTEGER))).any().alias(`unsafe${i}`));
    }
  });
  const keyed = keyName !== null && names.includes(keyName);
  if (keyed) {
    exprs.push(pl.col(keyName).nUnique().alias("key_distinct"));
    if (FLOATS.has(dtypes[names.indexOf(keyName)]!)) exprs.push(pl.col(keyName).isNan().sum().alias("key_nans"));
  }
  const row = (await frame.select(...exprs).collect()).toRecords()[0] as Record<string, number | boolean | null>;
  const unsafeIntegers = names.filter((_, i) => row[`unsafe${i}`] === true);
  const columns = names.map((name, i) => ({
    name,
    type: unsafeIntegers.includes(name) ? "String" : dtypes[i]!,
    nullable: Number(row[`nulls${i}`] ?? 0) > 0 || Number(row[`nonfinite${i}`] ?? 0) > 0,
  }));
  const rows = Number(row.rows);
  let key: FrameFacts["key"] = null;
  if (keyed) {
    const index = names.indexOf(keyName);
    const nulls = Number(row[`nulls${index}`] ?? 0);
    const distinct = Number(row.key_distinct);
    key = { name: keyName, nulls, nans: Number(row.key_nans ?? 0), distinct, duplicateExample: null };
    // nUnique counts null as one value; duplicates are rows beyond the distinct values.
    if (nulls === 0 && distinct < rows) {
      const duplicated = await frame.groupBy(keyName).agg(pl.len().alias("n")).filter(pl.col("n").gt(1)).limit(1).collect();
      key.duplicateExample = String(duplicated.getColumn(keyName).get(0));
    }
  }
  return { rows, columns, unsafeIntegers, key, names, dtypes: schema };
}

/** The frame with the serialization rules applied (lazily: nothing runs until it is written). */
export function normalizeFrame(frame: LazyDataFrame, facts: FrameFacts): LazyDataFrame {
  const rewrites: ReturnType<typeof pl.col>[] = [];
  facts.names.forEach((name, i) => {
    const column = pl.col(name);
    const dtype = facts.dtypes[i]!;
    switch (dtype.variant) {
      case "Date":
        rewrites.push(column.dt.strftime("%Y-%m-%d").alias(name));
        break;
      case "Datetime": {
        const zoned = Boolean((dtype as { timeZone?: string | null }).timeZone);
        rewrites.push((zoned ? column.dt.convertTimeZone("UTC") : column).dt.strftime(DATETIME_FORMAT).alias(name));
        break;
      }
      case "Float32":
      case "Float64":
        rewrites.push(pl.when(column.isFinite()).then(column).otherwise(pl.lit(null)).alias(name));
        break;
      default:
        if (facts.unsafeIntegers.includes(name)) rewrites.push(column.cast(pl.Utf8).alias(name));
    }
  });
  return rewrites.length > 0 ? frame.withColumns(...rewrites) : frame;
}

/**
 * Writes the rows as NDJSON with polars' streaming engine (the frame is never held serialized),
 * and for a keyed snapshot the key column alone beside them, in the same order.
 */
export async function writeRowFiles(normalized: LazyDataFrame, files: { rows: string; keys?: { file: string; column: string } }): Promise<void> {
  await normalized.sinkNdJson(files.rows, { maintainOrder: true }).collect();
  if (files.keys) await normalized.select(files.keys.column).sinkNdJson(files.keys.file, { maintainOrder: true }).collect();
}
