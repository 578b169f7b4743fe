/**
 * The other formats a version is published in, beside its JSON pages: CSV, NDJSON and Parquet,
 * each one immutable object (`formatObjectKey`) that the edge streams as stored, never converting.
 * polars writes them to the run's temp dir with its streaming engine (bounded memory, like the
 * rows), each file is hashed in one streaming pass (the sha256 is that format's ETag), and the
 * publisher uploads each file as a stream before it swaps the manifest.
 *
 * What each format holds (the row-for-row equivalence with the JSON body is tested):
 * - **NDJSON** is the rows file the JSON pages are cut from (`rows.ndjson`): one JSON record per
 *   line, each line byte for byte the row in the JSON body, every line ending in "\n". It is
 *   stored cut like the JSON pages (`ndjsonPageObjectKey`), so it is shared between versions too;
 *   the whole file is only hashed here (its sha256 is the NDJSON's ETag).
 * - **CSV** (RFC 4180) is written from the normalized frame, so dates, datetimes, NaN/infinities and
 *   wide integers read exactly as in the JSON. A header row of column names; lines end in CRLF, as
 *   RFC 4180 §2 specifies (the one line break every CSV reader accepts); UTF-8 without a BOM;
 *   fields are quoted only when they hold a comma, a double quote, CR or LF, with quotes doubled.
 *   A null is an empty unquoted field, an empty string is `""`. Booleans are `true`/`false`,
 *   numbers are written as in the JSON. Nested columns (List, Array, Struct) hold their JSON text,
 *   and Time and Duration columns the string the JSON holds for them (polars' CSV writer cannot
 *   write nested values or durations, and writes times with nanoseconds).
 * - **Parquet** is the built frame itself, with polars' types (dates stay dates, NaN stays NaN,
 *   wide integers stay integers): read it back and apply the serialization rules
 *   (compute/run/serialize.ts), and it gives the same rows, in the same order, as the JSON. It is
 *   zstd-compressed, in row groups of PARQUET_ROW_GROUP_ROWS with min/max statistics, so a range
 *   reader fetches only the columns and groups it needs.
 * https://www.rfc-editor.org/rfc/rfc4180#section-2
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, openAsBlob } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import path from "node:path";
import pl from "nodejs-polars";
import { FORMAT_CONTENT_TYPES, FORMATS, type Format, type FormatObject } from "../../contract/index.ts";
import type { LazyDataFrame } from "../dataset/define.ts";
import { EdgesnapError } from "../errors.ts";
import type { FrameFacts } from "../run/serialize.ts";
import type { ObjectStore } from "../storage/index.ts";

/**
 * Rows per Parquet row group. A range reader (DuckDB's httpfs, hyparquet, DuckDB-WASM) reads the
 * footer, then only the column chunks of the groups it needs, skipping groups by their min/max
 * statistics: groups of 100,000 rows keep a one-column read of a large table to a small share of
 * the file, at a few percent more bytes than one group per 1M rows.
 */
export const PARQUET_ROW_GROUP_ROWS = 100_000;

/** RFC 4180's line break. */
export const CSV_LINE_TERMINATOR = "\r\n";

/** One format written to the run's temp dir, hashed, ready to upload. */
export interface FormatFile extends FormatObject {
  format: Format;
  file: string;
  /** CSV: its gzip copy (one member), served to clients that accept gzip. */
  gzip?: { file: string } & FormatObject;
}

/**
 * The zlib level of the compressed copies: 4 compresses the flights table's CSV and NDJSON to
 * about a fifth at over twice the speed of the default 6, which saves under 5% more
 * (`npm run bench:formats` measures both).
 */
export const GZIP_LEVEL = 4;

/** Writes `file`'s gzip copy beside it, in one streaming pass. */
async function gzipCopy(file: string): Promise<{ file: string } & FormatObject> {
  const copy = `${file}.gz`;
  await pipeline(createReadStream(file), createGzip({ level: GZIP_LEVEL }), createWriteStream(copy));
  return { file: copy, ...(await hashFile(copy)) };
}

/** Dtypes polars' CSV writer cannot write as the JSON does: written as their JSON text instead. */
const JSON_TEXT_IN_CSV = new Set(["List", "FixedSizeList", "Array", "Struct"]);
/** Dtypes the JSON holds as strings polars' CSV writer would write differently. */
const JSON_STRING_IN_CSV = new Set(["Time", "Duration"]);

/**
 * A column's value as polars' JSON writer encodes it, as text. `struct.jsonEncode` is the only
 * JSON encoder polars offers on expressions, so the value is wrapped in a one-field struct and
 * unwrapped again: `{"v":<json>}` becomes `<json>`, and for a JSON string, its unquoted content.
 */
function jsonTextOf(name: string, unquote: boolean): ReturnType<typeof pl.col> {
  const encoded = pl.struct(pl.col(name).alias("v")).struct.jsonEncode();
  const unwrapped = encoded.str.replace(unquote ? /^\{"v":"(.*)"\}$/s : /^\{"v":(.*)\}$/s, "$1");
  return pl.when(pl.col(name).isNull()).then(pl.lit(null)).otherwise(unwrapped).alias(name);
}

/** The normalized frame with every column in the text the CSV should hold. Lazy. */
export function csvFrame(normalized: LazyDataFrame, facts: Pick<FrameFacts, "names" | "dtypes">): LazyDataFrame {
  const rewrites = facts.names.flatMap((name, i) => {
    const variant = String(facts.dtypes[i]!.variant);
    if (JSON_TEXT_IN_CSV.has(variant)) return [jsonTextOf(name, false)];
    if (JSON_STRING_IN_CSV.has(variant)) return [jsonTextOf(name, true)];
    return [];
  });
  return rewrites.length > 0 ? normalized.withColumns(...rewrites) : normalized;
}

/** Size and lowercase hex sha256 of a file, in one streaming pass. */
export async function hashFile(file: string): Promise<FormatObject> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { bytes, sha256: hash.digest("hex") };
}

export interface WriteFormatsOptions {
  /** The built frame (Parquet is written from it, with polars' types). */
  frame: LazyDataFrame;
  /** The frame after the serialization rules (CSV is written from it). */
  normalized: LazyDataFrame;
  facts: Pick<FrameFacts, "names" | "dtypes">;
  /** The NDJSON rows file polars already wrote: the NDJSON format as it is. */
  rowsFile: string;
  /** Where the CSV and Parquet files go (the run's temp dir). */
  dir: string;
  /** Which formats to write; [] writes none. */
  formats: readonly Format[];
  /** Also write the compressed copies (CSV's gzip file). Default true. */
  compress?: boolean;
}

/**
 * Writes and hashes the requested formats, one polars streaming query each (bounded memory).
 * @returns the files in FORMATS order
 * @throws {EdgesnapError} "build-failed" naming the format when polars cannot write it (e.g. a
 *   column type it has no CSV or Parquet form for); the dataset's `formats` option can leave it out
 */
export async function writeFormats(options: WriteFormatsOptions): Promise<FormatFile[]> {
  const files: FormatFile[] = [];
  for (const format of FORMATS) {
    if (!options.formats.includes(format)) continue;
    const file = format === "ndjson" ? options.rowsFile : path.join(options.dir, `data.${format}`);
    try {
      if (format === "csv") {
        await csvFrame(options.normalized, options.facts)
          .sinkCSV(file, { lineTerminator: CSV_LINE_TERMINATOR, includeHeader: true, quoteStyle: "necessary", maintainOrder: true })
          .collect();
      } else if (format === "parquet") {
        await options.frame.sinkParquet(file, { compression: "zstd", statistics: true, rowGroupSize: PARQUET_ROW_GROUP_ROWS, maintainOrder: true }).collect();
      }
    } catch (error) {
      const reason = ((error as Error)?.message ?? String(error)).split("\n")[0];
      throw new EdgesnapError("build-failed", `writing ${format} failed: ${reason} (leave ${format} out of the dataset's formats)`, { cause: error });
    }
    const gzip = format === "csv" && options.compress !== false ? { gzip: await gzipCopy(file) } : {};
    files.push({ format, file, ...(await hashFile(file)), ...gzip });
  }
  return files;
}

/** The manifest's `formats` record of written files. Pure. */
export function formatRecord(files: readonly FormatFile[]): Partial<Record<Format, FormatObject>> {
  return Object.fromEntries(files.map(({ format, bytes, sha256 }) => [format, { bytes, sha256 }]));
}

/**
 * Uploads one file as one object under `key`, streamed from disk (the drivers send any size in
 * parts and check the body against the sha256 taken when it was written).
 */
export async function uploadFormat(store: ObjectStore, key: string, file: { file: string; sha256: string }, contentType: string): Promise<void> {
  // A Blob over the file opens it only while it is read, and refuses a file changed since.
  const body = (await openAsBlob(file.file)).stream() as ReadableStream<Uint8Array>;
  await store.put(key, body, { sha256: file.sha256, contentType });
}
