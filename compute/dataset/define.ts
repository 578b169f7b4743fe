/**
 * The dataset definition API: what an operator writes to add a dataset. A definition is plain data
 * plus a `build(ctx)` function. The scheduler imports definitions to read names, schedules and
 * limits, and must never load nodejs-polars (a native library of ~100 MB that would bloat the
 * long-lived process), so this module and every dataset module use `import type` for polars only:
 * the run hands the loaded module to `build` as `ctx.pl`.
 */
import { Cron } from "croner";
import { z } from "zod";
import type pl from "nodejs-polars";
import type { Format, VersionIndex } from "../../contract/index.ts";
import { DEFAULT_RETAINED_VERSIONS, defaultMaxAgeSeconds, FORMATS, isDatasetName, MAX_RETAINED_VERSIONS } from "../../contract/index.ts";
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
  /** The currently published version (its index: columns, rows, pages), or null before the first publish. */
  previous: VersionIndex | null;
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
  /**
   * How many versions the head retains (the newest, plus the current one wherever it is): 1 to
   * MAX_RETAINED_VERSIONS (100). Default DEFAULT_RETAINED_VERSIONS (20). Older versions are dropped at
   * the next publish, and their objects that no retained version shares are collected.
   */
  retain?: number;
  /**
   * Whether to store gzip copies of the CSV and NDJSON beside them, for clients that send
   * `Accept-Encoding: gzip` (about a fifth of their size, written once per page that changed).
   * Default true.
   */
  compress?: boolean;
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
  readonly retain: number;
  readonly compress: boolean;
  build(ctx: DatasetContext): DataFrame | LazyDataFrame | Promise<DataFrame | LazyDataFrame>;
}

export { DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS };
export const DEFAULT_MIN_ROWS = 1;

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

const positiveInteger = (what: string) => {
  const error = `${what} must be a positive integer`;
  return z.number({ error }).int({ error }).positive({ error });
};

/** A schedule croner can parse, with its longest interval (for the default freshness budget). */
const ScheduleSchema = z.unknown().transform((schedule, ctx) => {
  try {
    return { schedule: schedule as string, intervalSeconds: scheduleIntervalSeconds(schedule as string) };
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `invalid schedule ${JSON.stringify(schedule)}: ${(error as Error).message}` });
    return z.NEVER;
  }
});

const FORMATS_EXPECTED = FORMATS.join(", ");

const GatesSchema = z
  .object(
    {
      minRows: z
        .number({ error: "gates.minRows must be a non-negative integer" })
        .int({ error: "gates.minRows must be a non-negative integer" })
        .nonnegative({ error: "gates.minRows must be a non-negative integer" })
        .nullish(),
      maxRows: z.number({ error: "gates.maxRows must be an integer >= minRows" }).int({ error: "gates.maxRows must be an integer >= minRows" }).optional(),
      maxRowDropRatio: z
        .number({ error: "gates.maxRowDropRatio must be between 0 and 1" })
        .min(0, { error: "gates.maxRowDropRatio must be between 0 and 1" })
        .max(1, { error: "gates.maxRowDropRatio must be between 0 and 1" })
        .optional(),
    },
    { error: "gates must be an object" },
  )
  .superRefine((gates, ctx) => {
    if (gates.maxRows !== undefined && gates.maxRows < (gates.minRows ?? DEFAULT_MIN_ROWS)) {
      ctx.addIssue({ code: "custom", message: "gates.maxRows must be an integer >= minRows" });
    }
  });

/** What defineDataset accepts; every message names the option it is about. */
const DatasetOptionsSchema = z.object(
  {
    name: z.string({ error: "invalid name (expected [a-z0-9][a-z0-9-]{0,63})" }).refine(isDatasetName, { error: "invalid name (expected [a-z0-9][a-z0-9-]{0,63})" }),
    schedule: ScheduleSchema,
    key: z.string({ error: "key must be a non-empty column name" }).min(1, { error: "key must be a non-empty column name" }).optional(),
    limits: z
      .object({ timeoutMs: positiveInteger("limits.timeoutMs").nullish(), memoryBytes: positiveInteger("limits.memoryBytes").nullish() }, { error: "limits must be an object" })
      .optional(),
    gates: GatesSchema.optional(),
    description: z.string({ error: "description must be a string" }).optional(),
    maxAgeSeconds: positiveInteger("maxAgeSeconds").optional(),
    formats: z
      .array(z.enum(FORMATS, { error: (issue) => `unknown format ${JSON.stringify(issue.input)} (expected ${FORMATS_EXPECTED})` }), {
        error: `formats must be an array of ${FORMATS.map((f) => JSON.stringify(f)).join(", ")}`,
      })
      // `when`: also when an entry is unknown, so every problem is named at once.
      .refine((formats) => new Set(formats).size === formats.length, { error: "formats lists a format twice", when: (payload) => Array.isArray(payload.value) })
      .nullish(),
    retain: z
      .number({ error: `retain must be an integer from 1 to ${MAX_RETAINED_VERSIONS}` })
      .int({ error: `retain must be an integer from 1 to ${MAX_RETAINED_VERSIONS}` })
      .min(1, { error: `retain must be an integer from 1 to ${MAX_RETAINED_VERSIONS}` })
      .max(MAX_RETAINED_VERSIONS, { error: `retain must be an integer from 1 to ${MAX_RETAINED_VERSIONS}` })
      .optional(),
    compress: z.boolean({ error: "compress must be true or false" }).optional(),
    build: z.custom<DatasetOptions["build"]>((value) => typeof value === "function", { error: "build must be a function" }),
  },
  { error: "expected the dataset's options object" },
);

/**
 * Declares a dataset, validating it and filling in defaults.
 * Defaults: limits { timeoutMs: 90_000, memoryBytes: 1 GiB }, gates { minRows: 1 }, maxAgeSeconds
 * three intervals of the schedule and at least 300, formats: all, retain: 20, compress: true.
 * @throws {EdgesnapError} code "config" naming every malformed option, one line each, all in the
 *   style `dataset "x": limits.timeoutMs must be a positive integer`.
 */
export function defineDataset(options: DatasetOptions): DatasetDefinition {
  const parsed = DatasetOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const name = JSON.stringify((options as Partial<DatasetOptions> | null)?.name);
    const problems = [...new Set(parsed.error.issues.map((issue) => issue.message))];
    throw new EdgesnapError("config", problems.map((problem) => `dataset ${name}: ${problem}`).join("\n"));
  }
  const { name, schedule, key, limits, gates, description, maxAgeSeconds, formats, retain, compress, build } = parsed.data;
  return Object.freeze({
    name,
    schedule: schedule.schedule,
    key: key ?? null,
    limits: Object.freeze({ timeoutMs: limits?.timeoutMs ?? DEFAULT_TIMEOUT_MS, memoryBytes: limits?.memoryBytes ?? DEFAULT_MEMORY_BYTES }),
    gates: Object.freeze({
      minRows: gates?.minRows ?? DEFAULT_MIN_ROWS,
      ...(gates?.maxRows === undefined ? {} : { maxRows: gates.maxRows }),
      ...(gates?.maxRowDropRatio === undefined ? {} : { maxRowDropRatio: gates.maxRowDropRatio }),
    }),
    description: description ?? "",
    maxAgeSeconds: maxAgeSeconds ?? defaultMaxAgeSeconds(schedule.intervalSeconds),
    formats: Object.freeze([...(formats ?? FORMATS)]),
    retain: retain ?? DEFAULT_RETAINED_VERSIONS,
    compress: compress ?? true,
    build,
  });
}
