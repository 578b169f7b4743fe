/**
 * Source helpers handed to `build` as `ctx.sources`: locate local files, download HTTP sources into
 * the run's private temp dir (so they are removed with it), and read CSV/Parquet through the polars
 * module the run loaded. Every failure is an EdgesnapError "build-failed" naming the source, so a
 * run's one-line reason says which input was missing.
 */
import { createWriteStream } from "node:fs";
import { access, mkdtemp } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { EdgesnapError } from "../errors.ts";
import type { DataFrame, LazyDataFrame, Polars } from "./define.ts";

type ReadCsvOptions = NonNullable<Parameters<Polars["readCSV"]>[1]>;
type ScanCsvOptions = NonNullable<Parameters<Polars["scanCSV"]>[1]>;
type ReadParquetOptions = NonNullable<Parameters<Polars["readParquet"]>[1]>;
type ScanParquetOptions = NonNullable<Parameters<Polars["scanParquet"]>[1]>;

export interface HttpSourceOptions {
  headers?: Record<string, string>;
  /** Gives up after this long. Default DEFAULT_HTTP_TIMEOUT_MS (30 s). */
  timeoutMs?: number;
  /** File name inside the temp dir. Default: the last segment of the URL path. */
  fileName?: string;
}

export interface Sources {
  /**
   * Resolves a local path (relative to the working directory) and checks that it exists.
   * @returns the absolute path
   * @throws {EdgesnapError} "build-failed" when the file is missing
   */
  file(filePath: string): Promise<string>;
  /**
   * Downloads `url` into the run's temp dir.
   * @returns the local path of the download
   * @throws {EdgesnapError} "build-failed" on a network error, a non-2xx status or a timeout
   */
  http(url: string, options?: HttpSourceOptions): Promise<string>;
  /** Reads a CSV file (or an http(s) URL, downloaded first) into a DataFrame. */
  csv(source: string, options?: Partial<ReadCsvOptions>): Promise<DataFrame>;
  /** Reads a Parquet file (or an http(s) URL, downloaded first) into a DataFrame. */
  parquet(source: string, options?: Partial<ReadParquetOptions>): Promise<DataFrame>;
  /** Lazily scans a CSV file (or downloaded URL): only the columns and rows the query needs are read. */
  scanCsv(source: string, options?: Partial<ScanCsvOptions>): Promise<LazyDataFrame>;
  /** Lazily scans a Parquet file (or downloaded URL). */
  scanParquet(source: string, options?: ScanParquetOptions): Promise<LazyDataFrame>;
}

export interface SourcesOptions {
  pl: Polars;
  /** Downloads land in a fresh directory below this one. */
  tempDir: string;
  /** Aborts downloads when the run is being stopped. */
  signal?: AbortSignal;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Creates the source helpers of one run. */
export function createSources(options: SourcesOptions): Sources {
  const { pl, tempDir } = options;

  async function file(filePath: string): Promise<string> {
    const absolute = path.resolve(filePath);
    try {
      await access(absolute);
    } catch (error) {
      throw new EdgesnapError("build-failed", `source not found: ${filePath}`, { cause: error });
    }
    return absolute;
  }

  async function http(url: string, httpOptions: HttpSourceOptions = {}): Promise<string> {
    const timeout = AbortSignal.timeout(httpOptions.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const name = httpOptions.fileName ?? (path.posix.basename(new URL(url).pathname) || "download");
    // A directory per download, so two sources with the same file name never overwrite each other.
    const target = path.join(await mkdtemp(path.join(tempDir, "http-")), path.basename(name));
    try {
      const response = await fetch(url, { headers: httpOptions.headers, signal });
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      await pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), createWriteStream(target), { signal });
    } catch (error) {
      const reason = timeout.aborted ? "timed out" : (error as Error).message;
      throw new EdgesnapError("build-failed", `source download failed: ${url}: ${reason}`, { cause: error });
    }
    return target;
  }

  const local = (source: string) => (isUrl(source) ? http(source) : file(source));

  async function read<T>(source: string, reader: (localPath: string) => T): Promise<T> {
    const localPath = await local(source);
    try {
      return reader(localPath);
    } catch (error) {
      throw new EdgesnapError("build-failed", `cannot read source ${source}: ${(error as Error).message}`, { cause: error });
    }
  }

  return {
    file,
    http,
    csv: (source, csvOptions) => read(source, (p) => pl.readCSV(p, csvOptions)),
    parquet: (source, parquetOptions) => read(source, (p) => pl.readParquet(p, parquetOptions)),
    scanCsv: (source, csvOptions) => read(source, (p) => pl.scanCSV(p, csvOptions)),
    scanParquet: (source, parquetOptions) => read(source, (p) => pl.scanParquet(p, parquetOptions)),
  };
}
