/**
 * Snapshot serialization: a DataFrame becomes the JSON body every client reads. Pure (no I/O), so
 * the rules below are unit-tested on real polars frames and the same frame always yields the same
 * bytes, which is what makes "same hash = unchanged" work.
 *
 * ## Serialization rules (copied into the README)
 * The body is a JSON array of records, one object per row, keys in column order:
 * `[{"iata":"ORD","flights":166341,...}, ...]`. Polars' own JSON writer produces it (about 13x
 * faster than `toRecords()` + `JSON.stringify`) after these column normalizations:
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
 * The manifest's `columns` lists each column with the type its JSON values have: the polars dtype
 * name ("Float64", "Date", "Datetime", ...), or "String" for an integer column written as strings.
 */
import pl from "nodejs-polars";
import type { Column } from "../../contract/index.ts";
import type { DataFrame } from "../dataset/define.ts";

export interface SerializedSnapshot {
  /** UTF-8 JSON text of the body. */
  body: Uint8Array;
  rows: number;
  columns: Column[];
}

/** The largest integer a JSON client using IEEE doubles (every browser) reads exactly. */
export const MAX_EXACT_JSON_INTEGER = Number.MAX_SAFE_INTEGER;

/** strftime format for UTC datetimes: ISO-8601 with milliseconds and "Z". */
const DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ";

function hasUnsafeIntegers(df: DataFrame, name: string): boolean {
  const column = pl.col(name);
  const [unsafe] = df
    .select(column.gt(pl.lit(MAX_EXACT_JSON_INTEGER)).or(column.lt(pl.lit(-MAX_EXACT_JSON_INTEGER))).any().alias("unsafe"))
    .row(0);
  return unsafe === true;
}

/**
 * Applies the serialization rules (see the module comment) to `df`.
 * @returns the normalized frame and the column list for the manifest
 */
export function normalizeForJson(df: DataFrame): { frame: DataFrame; columns: Column[] } {
  const rewrites: ReturnType<typeof pl.col>[] = [];
  const columns: Column[] = [];
  const dtypes = df.dtypes;
  for (const [index, name] of df.columns.entries()) {
    const dtype = dtypes[index]!;
    const column = pl.col(name);
    let type: string = dtype.variant;
    switch (dtype.variant) {
      case "Date":
        rewrites.push(column.dt.strftime("%Y-%m-%d").alias(name));
        break;
      case "Datetime": {
        const zone = (dtype as { timeZone?: string | null }).timeZone;
        const utc = zone ? column.dt.convertTimeZone("UTC") : column;
        rewrites.push(utc.dt.strftime(DATETIME_FORMAT).alias(name));
        break;
      }
      case "Float32":
      case "Float64":
        rewrites.push(pl.when(column.isFinite()).then(column).otherwise(pl.lit(null)).alias(name));
        break;
      case "Int64":
      case "UInt64":
        if (hasUnsafeIntegers(df, name)) {
          rewrites.push(column.cast(pl.Utf8).alias(name));
          type = "String";
        }
        break;
    }
    columns.push({ name, type });
  }
  return { frame: rewrites.length > 0 ? df.withColumns(...rewrites) : df, columns };
}

/**
 * Serializes a snapshot: normalizes the columns and writes a JSON array of records.
 * Deterministic: equal frames give byte-identical bodies.
 */
export function serializeSnapshot(df: DataFrame): SerializedSnapshot {
  const { frame, columns } = normalizeForJson(df);
  const buffer = frame.writeJSON({ format: "json" });
  return { body: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), rows: df.height, columns };
}
