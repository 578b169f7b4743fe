/**
 * The dataset definition API: what an operator writes to add a dataset. A definition is plain data
 * plus a `build(ctx)` function. The scheduler imports definitions to read names, schedules and
 * limits, and must never load nodejs-polars (a native library of ~100 MB that would bloat the
 * long-lived process), so this module and every dataset module use `import type` for polars only:
 * the run hands the loaded module to `build` as `ctx.pl`.
 */
import { Cron } from "croner";
import type pl from "nodejs-polars";
import type { Format, VersionInfo } from "../../contract/index.ts";
import { defaultMaxAgeSeconds, FORMATS, isDatasetName } from "../../contract/index.ts";
import { DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS } from "../config.ts";
import { EdgesnapError } from "../errors.ts";
import type { Logger } from "../run/logger.ts";
import type { Sources } from "./sources.ts";

export type Polars = typeof pl;
export type DataFrame = pl.DataFrame;
export type LazyDataFrame = pl.LazyDataFrame;

/** Resource limits of one run, enforced by the scheduler on the child process. */
export interface DatasetLimits {
  /** Wall-clock limit of one run. Default DEFAULT_TIMEOUT_MS (90 s). */
  timeoutMs: number;
  /** Resident memory ceiling of the run's process. Default DEFAULT_MEMORY_BYTES (1 GiB). */
  memoryBytes: number;
}

/**
 * Validation gates: a snapshot that fails one is rejected and nothing is published, so the
 * previous version keeps being served. Keyed datasets also get automatic gates: the key column
 * exists, has no nulls, its values are unique and valid item keys.
 */
export interface DatasetGates {
  /** Fewest rows a snapshot may have. Default 1 (an empty snapshot is almost always a bug). */
  minRows: number;
  /** Most rows a snapshot may have. Default: no limit. */
  maxRows?: number;
  /**
   * Largest allowed drop in rows versus the current version, as a fraction (0.5 = refuse a
   * snapshot with less than half the previous rows). Default: no limit.
   */
  maxRowDropRatio?: number;
}

/** What `build` gets. */
export interface DatasetContext {
  /** The nodejs-polars module, loaded by the run (dataset modules must not import it at runtime). */
  pl: Polars;
  /** A private directory for scratch files; the run removes it on every exit path. */
  tempDir: string;
  /** JSON-lines logger to stderr, tagged with the dataset name. */
  log: Logger;
  /** The currently published version, or null before the first publish. */
  previous: VersionInfo | null;
  /** Helpers to locate and read sources (files, CSV, Parquet, HTTP downloads). */
  sources: Sources;
  /** Aborted when the run is being stopped; long builds may pass it on to fetches. */
  signal: AbortSignal;
}

export interface DatasetOptions {
  /** `[a-z0-9][a-z0-9-]{0,63}`: used in URLs, R2 keys and KV keys. */
  name: string;
  /** Cron expression (5 or 6 fields, croner syntax), e.g. "*\/5 * * * *". */
  schedule: string;
  /** Key column: makes the dataset keyed (items served one by one at /items/:key). */
  key?: string;
  limits?: Partial<DatasetLimits>;
  gates?: Partial<DatasetGates>;
  description?: string;
  /**
   * Freshness budget in seconds: the dataset is stale (the edge alerts, /v1/health answers 503)
   * when no run has confirmed its content for longer than this. Default: three intervals of the
   * schedule, at least five minutes (contract/freshness.ts `defaultMaxAgeSeconds`).
   */
  maxAgeSeconds?: number;
  /**
   * The formats published beside the JSON pages (served at `/v1/datasets/<name>.csv` and so on).
   * Default: all of FORMATS; `[]` publishes JSON only, to save storage and build time.
   */
  formats?: readonly Format[];
  /** Builds the snapshot. May return a DataFrame or a LazyFrame (the run collects it). */
  build(ctx: DatasetContext): DataFrame | LazyDataFrame | Promise<DataFrame | LazyDataFrame>;
}

/** A validated definition with every default filled in. */
export interface DatasetDefinition {
  readonly name: string;
  readonly schedule: string;
  readonly key: string | null;
  readonly limits: Readonly<DatasetLimits>;
  readonly gates: Readonly<DatasetGates>;
  readonly description: string;
  /** The freshness budget in seconds (explicit, or the default from the schedule). */
  readonly maxAgeSeconds: number;
  readonly formats: readonly Format[];
  build(ctx: DatasetContext): DataFrame | LazyDataFrame | Promise<DataFrame | LazyDataFrame>;
}

export { DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS };
export const DEFAULT_MIN_ROWS = 1;

function positiveInteger(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}

/** Runs of a schedule sampled to find its longest gap: enough to span a week of a weekday schedule. */
const INTERVAL_SAMPLE_RUNS = 24;

/**
 * The longest gap between two consecutive runs of a cron schedule, in seconds, over its next
 * runs: for "0 9 * * 1-5" the weekend's 72 hours, not the weekdays' 24, so a budget built on it
 * does not call the dataset stale every Monday morning.
 * @throws {Error} croner's error for an invalid schedule
 */
export function scheduleIntervalSeconds(schedule: string, from = new Date()): number {
  const runs = new Cron(schedule, { paused: true, timezone: "UTC" }).nextRuns(INTERVAL_SAMPLE_RUNS, from);
  let longest = 0;
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest, runs[i]!.getTime() - runs[i - 1]!.getTime());
  return Math.ceil(longest / 1000);
}

/**
 * Declares a dataset, validating it and filling in defaults.
 * Defaults: limits { timeoutMs: 90_000, memoryBytes: 1 GiB }, gates { minRows: 1 }, maxAgeSeconds
 * three intervals of the schedule and at least 300, formats: all.
 * @throws {EdgesnapError} code "config" for a malformed name, schedule, key, limit, gate or format.
 */
export function defineDataset(options: DatasetOptions): DatasetDefinition {
  const { name } = options;
  const fail = (message: string): never => {
    throw new EdgesnapError("config", `dataset ${JSON.stringify(name)}: ${message}`);
  };
  if (typeof name !== "string" || !isDatasetName(name)) {
    fail("invalid name (expected [a-z0-9][a-z0-9-]{0,63})");
  }
  let intervalSeconds = 0;
  try {
    // Parse only: a paused job with no callback never fires and holds no timer.
    intervalSeconds = scheduleIntervalSeconds(options.schedule);
  } catch (error) {
    fail(`invalid schedule ${JSON.stringify(options.schedule)}: ${(error as Error).message}`);
  }
  if (options.maxAgeSeconds !== undefined && !positiveInteger(options.maxAgeSeconds)) fail("maxAgeSeconds must be a positive integer");
  if (options.key !== undefined && (typeof options.key !== "string" || options.key.length === 0)) {
    fail("key must be a non-empty column name");
  }
  if (typeof options.build !== "function") fail("build must be a function");

  const limits: DatasetLimits = {
    timeoutMs: options.limits?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    memoryBytes: options.limits?.memoryBytes ?? DEFAULT_MEMORY_BYTES,
  };
  if (!positiveInteger(limits.timeoutMs)) fail("limits.timeoutMs must be a positive integer");
  if (!positiveInteger(limits.memoryBytes)) fail("limits.memoryBytes must be a positive integer");

  const gates: DatasetGates = { minRows: options.gates?.minRows ?? DEFAULT_MIN_ROWS };
  if (!Number.isInteger(gates.minRows) || gates.minRows < 0) fail("gates.minRows must be a non-negative integer");
  if (options.gates?.maxRows !== undefined) {
    gates.maxRows = options.gates.maxRows;
    if (!Number.isInteger(gates.maxRows) || gates.maxRows < gates.minRows) fail("gates.maxRows must be an integer >= minRows");
  }
  if (options.gates?.maxRowDropRatio !== undefined) {
    gates.maxRowDropRatio = options.gates.maxRowDropRatio;
    if (!(gates.maxRowDropRatio >= 0 && gates.maxRowDropRatio <= 1)) fail("gates.maxRowDropRatio must be between 0 and 1");
  }

  const formats = options.formats ?? FORMATS;
  if (!Array.isArray(formats)) fail(`formats must be an array of ${FORMATS.map((f) => JSON.stringify(f)).join(", ")}`);
  for (const format of formats) {
    if (!FORMATS.includes(format)) fail(`unknown format ${JSON.stringify(format)} (expected ${FORMATS.join(", ")})`);
  }
  if (new Set(formats).size !== formats.length) fail("formats lists a format twice");

  return Object.freeze({
    name,
    schedule: options.schedule,
    key: options.key ?? null,
    limits: Object.freeze(limits),
    gates: Object.freeze(gates),
    description: options.description ?? "",
    maxAgeSeconds: options.maxAgeSeconds ?? defaultMaxAgeSeconds(intervalSeconds),
    formats: Object.freeze([...formats]),
    build: options.build,
  });
}
