/**
 * The compute side's configuration: read once from the environment at start, validated with zod,
 * and passed down explicitly. A missing or malformed setting stops the process with one message
 * naming the variable (exit code 2). Secrets (the admin token, S3 keys) are never printed:
 * `describeConfig` redacts them and error messages never echo a secret's value.
 *
 * The same variables configure the embedded default (`npm start`), the container and a one-shot
 * `edgesnap run`; docs/deploy.md lists them. An empty variable counts as unset, because container
 * runtimes and Kubernetes manifests often set a variable to "" rather than leave it out.
 */
import os from "node:os";
import path from "node:path";
import { Cron } from "croner";
import { z } from "zod";
import { MIN_TOKEN_LENGTH, tokenProblem } from "../contract/admin-token.ts";
import { isDatasetName } from "../contract/names.ts";
import { EdgesnapError } from "./errors.ts";

/** A run's wall-clock limit when its dataset sets none. */
export const DEFAULT_TIMEOUT_MS = 90_000;
/** A run's resident-memory ceiling when its dataset sets none: 1 GiB. */
export const DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024;
/** Where the local Worker listens by default: `wrangler dev`'s own default port. */
export const DEFAULT_EDGE_PORT = 8787;
export const DEFAULT_EDGE_URL = `http://127.0.0.1:${DEFAULT_EDGE_PORT}`;
/** The local store's state dir by default, as `wrangler dev --persist-to` names it. */
export const DEFAULT_PERSIST_TO = ".wrangler/state";
export const DEFAULT_WRANGLER_CONFIG = "wrangler.toml";

const LocalStoreSchema = z.object({
  kind: z.literal("local"),
  /** Like `wrangler dev --persist-to`. */
  persistTo: z.string().default(DEFAULT_PERSIST_TO),
  wranglerConfig: z.string().default(DEFAULT_WRANGLER_CONFIG),
});

const S3StoreSchema = z.object({
  kind: z.literal("s3"),
  /** `https://<account_id>.r2.cloudflarestorage.com` for R2, or any S3 endpoint. */
  endpoint: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }),
  bucket: z.string().min(1),
  region: z.string().default("auto"),
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
});

/** Cron expression, parsed with the scheduler's own parser so a typo is caught at start. */
function isCronExpression(value: string): boolean {
  try {
    // Paused and without a callback: parses, never fires, holds no timer.
    new Cron(value, { paused: true });
    return true;
  } catch {
    return false;
  }
}

const SchedulesSchema = z
  .record(
    z.string().refine(isDatasetName, { error: "dataset names match [a-z0-9][a-z0-9-]{0,63}" }),
    z.string().refine(isCronExpression, { error: "expected a cron expression" }),
  )
  .optional();

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
};

/**
 * Parses a byte size as written in Kubernetes resource limits: `1073741824`, `512Mi`, `1Gi`, `2G`.
 * @returns the number of bytes, or null when malformed
 */
export function parseByteSize(value: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]i?)?$/i.exec(value.trim());
  if (!match) return null;
  const bytes = Math.floor(Number(match[1]) * BYTE_UNITS[(match[2] ?? "").toLowerCase()]!);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

const ByteSizeSchema = z.string().transform((value, ctx) => {
  const bytes = parseByteSize(value);
  if (bytes === null) {
    ctx.addIssue({ code: "custom", message: "expected a byte size such as 1073741824, 512Mi or 1Gi" });
    return z.NEVER;
  }
  return bytes;
});

/** The two log formats (compute/run/logger.ts). */
export const LOG_FORMATS = ["human", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const positiveIntegerFromEnv = (what: string) =>
  z.coerce.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });

export const ConfigSchema = z.object({
  store: z.discriminatedUnion("kind", [LocalStoreSchema, S3StoreSchema], { error: 'expected "local" or "s3"' }),
  /** Base URL of the Worker, for publish notices (and, for operators, the admin API). */
  edgeUrl: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).default(DEFAULT_EDGE_URL),
  /** Bearer token for the Worker's publish notice and admin API: MIN_TOKEN_LENGTH characters at least. */
  token: z.string().min(MIN_TOKEN_LENGTH).optional(),
  /**
   * `npm start` only: the webhook the local Worker posts alerts to (in production it is the
   * Worker's own secret, set with `wrangler secret put EDGESNAP_ALERT_WEBHOOK`).
   */
  alertWebhook: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  /** Module whose default export is the array of dataset definitions. */
  datasets: z.string().default("compute/examples/index.ts"),
  /**
   * Cron schedules that replace the ones in the dataset definitions, by dataset name: lets one
   * image run on a different cadence per environment without a code change.
   */
  schedules: SchedulesSchema,
  /**
   * Ceilings on every run's limits: a dataset's own timeout or memory limit above these is lowered
   * to them (so the runs fit the container's memory limit); below them it is kept. Unset: no cap.
   */
  limits: z
    .object({
      maxTimeoutMs: positiveIntegerFromEnv("a positive integer of milliseconds").optional(),
      maxMemoryBytes: ByteSizeSchema.optional(),
    })
    .optional(),
  /** Root under which every run gets a private temp dir. */
  tempRoot: z.string().default(path.join(os.tmpdir(), "edgesnap")),
  /** Port of the scheduler's /healthz and /metrics. 0 picks a free port. */
  metricsPort: z.coerce
    .number({ error: "expected an integer from 0 to 65535" })
    .int({ error: "expected an integer from 0 to 65535" })
    .min(0, { error: "expected an integer from 0 to 65535" })
    .max(65535, { error: "expected an integer from 0 to 65535" })
    .default(9464),
  /**
   * Interface /healthz and /metrics listen on. Default 127.0.0.1 (nothing outside the machine
   * sees them, applied by the scheduler); a container sets 0.0.0.0 so Kubernetes probes and Prometheus can reach the port.
   */
  metricsHost: z.string().min(1).optional(),
  /** How many runs may execute at once. */
  concurrency: positiveIntegerFromEnv("a positive integer").default(Math.max(1, os.availableParallelism())),
  /** Time limit for importing one dataset module (milliseconds; unset: DEFAULT_MODULE_TIMEOUT_MS, read by `moduleTimeoutMs`). */
  moduleTimeoutMs: positiveIntegerFromEnv("a positive integer of milliseconds").optional(),
  /**
   * Per-dataset leases in the store, so several schedulers share the work (contract/protocol/leases.ts):
   * `on` or `off`; unset: on with the S3 store (production, where replicas are possible), off with
   * the local one (one `npm start` per state dir). Read with `leaseSettings`.
   */
  leases: z.enum(["on", "off"], { error: 'expected "on" or "off"' }).optional(),
  /** The lease period in seconds (default 30): a dead scheduler's datasets are taken over within it. */
  leaseSeconds: z.coerce.number({ error: "expected an integer of seconds from 3 to 3600" }).int({ error: "expected an integer of seconds from 3 to 3600" }).min(3, { error: "expected an integer of seconds from 3 to 3600" }).max(3600, { error: "expected an integer of seconds from 3 to 3600" }).optional(),
  /** How the compute side writes its log: `human` lines or `json` objects (unset: human on a terminal). */
  logFormat: z.enum(LOG_FORMATS, { error: 'expected "human" or "json"' }).optional(),
  /** IANA timezone for cron schedules. */
  timezone: z
    .string()
    .refine(isTimeZone, { error: "expected an IANA time zone such as UTC or Europe/Paris" })
    .default("UTC"),
});
/**
 * The validated configuration. `schedules`, `limits` and `metricsHost` are optional (absent means
 * "no overrides", "no caps", the scheduler's default host) so code that builds a Config by hand,
 * tests above all, need not name them.
 */
export type Config = z.infer<typeof ConfigSchema>;
export type StoreConfig = Config["store"];

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** Environment variable behind each setting, for error messages and the docs. */
export const CONFIG_ENV = {
  "store.kind": "EDGESNAP_STORE",
  "store.persistTo": "EDGESNAP_PERSIST_TO",
  "store.wranglerConfig": "EDGESNAP_WRANGLER_CONFIG",
  "store.endpoint": "EDGESNAP_S3_ENDPOINT",
  "store.bucket": "EDGESNAP_S3_BUCKET",
  "store.region": "EDGESNAP_S3_REGION",
  "store.accessKeyId": "EDGESNAP_S3_ACCESS_KEY_ID",
  "store.secretAccessKey": "EDGESNAP_S3_SECRET_ACCESS_KEY",
  edgeUrl: "EDGESNAP_EDGE_URL",
  token: "EDGESNAP_TOKEN",
  alertWebhook: "EDGESNAP_ALERT_WEBHOOK",
  datasets: "EDGESNAP_DATASETS",
  schedules: "EDGESNAP_SCHEDULES",
  "limits.maxTimeoutMs": "EDGESNAP_MAX_RUN_TIMEOUT_MS",
  "limits.maxMemoryBytes": "EDGESNAP_MAX_RUN_MEMORY",
  tempRoot: "EDGESNAP_TEMP_ROOT",
  metricsPort: "EDGESNAP_METRICS_PORT",
  metricsHost: "EDGESNAP_METRICS_HOST",
  concurrency: "EDGESNAP_CONCURRENCY",
  timezone: "EDGESNAP_TIMEZONE",
  logFormat: "EDGESNAP_LOG_FORMAT",
  moduleTimeoutMs: "EDGESNAP_MODULE_TIMEOUT_MS",
  leases: "EDGESNAP_LEASES",
  leaseSeconds: "EDGESNAP_LEASE_SECONDS",
} as const;

/** Settings whose values are secret: never logged, never echoed in an error. */
export const SECRET_ENV: ReadonlySet<string> = new Set([
  CONFIG_ENV.token,
  CONFIG_ENV.alertWebhook,
  CONFIG_ENV["store.accessKeyId"],
  CONFIG_ENV["store.secretAccessKey"],
]);

/**
 * Settings the S3 store cannot do without. The edge URL and token are required too: with the S3
 * store the process publishes to a real bucket, and the Worker that serves it is not on localhost
 * and refuses notices without the token (the cron reconcile would hide the mistake for a minute
 * per publish, forever).
 */
const REQUIRED_WITH_S3 = [
  CONFIG_ENV["store.endpoint"],
  CONFIG_ENV["store.bucket"],
  CONFIG_ENV["store.accessKeyId"],
  CONFIG_ENV["store.secretAccessKey"],
  CONFIG_ENV.edgeUrl,
  CONFIG_ENV.token,
] as const;

/** An environment value, with an empty or blank string counting as unset. */
function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}

function parseSchedulesJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.schedules} (expected a JSON object of dataset name to cron expression)`);
  }
}

/**
 * Reads and validates the configuration from environment variables.
 * Defaults: the local store under .wrangler/state, edge URL http://127.0.0.1:8787, datasets from
 * compute/examples/index.ts, temp root <os tmpdir>/edgesnap, /healthz and /metrics on
 * 127.0.0.1:9464, one run per CPU at once, schedules in UTC, no schedule overrides or limit caps.
 * @throws {EdgesnapError} code "config" (exit code 2) naming the first missing or malformed
 *   variable, e.g. `missing setting EDGESNAP_S3_BUCKET (required when EDGESNAP_STORE=s3)`; the
 *   message never contains a secret's value.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const kind = read(env, CONFIG_ENV["store.kind"]) ?? "local";
  if (kind === "s3") {
    const missing = REQUIRED_WITH_S3.find((name) => read(env, name) === undefined);
    if (missing) throw new EdgesnapError("config", `missing setting ${missing} (required when EDGESNAP_STORE=s3)`);
  }
  const raw = {
    store:
      kind === "s3"
        ? {
            kind,
            endpoint: read(env, CONFIG_ENV["store.endpoint"]),
            bucket: read(env, CONFIG_ENV["store.bucket"]),
            region: read(env, CONFIG_ENV["store.region"]),
            accessKeyId: read(env, CONFIG_ENV["store.accessKeyId"]),
            secretAccessKey: read(env, CONFIG_ENV["store.secretAccessKey"]),
          }
        : { kind, persistTo: read(env, CONFIG_ENV["store.persistTo"]), wranglerConfig: read(env, CONFIG_ENV["store.wranglerConfig"]) },
    edgeUrl: read(env, CONFIG_ENV.edgeUrl),
    token: read(env, CONFIG_ENV.token),
    alertWebhook: read(env, CONFIG_ENV.alertWebhook),
    datasets: read(env, CONFIG_ENV.datasets),
    schedules: parseSchedulesJson(read(env, CONFIG_ENV.schedules)),
    limits: {
      maxTimeoutMs: read(env, CONFIG_ENV["limits.maxTimeoutMs"]),
      maxMemoryBytes: read(env, CONFIG_ENV["limits.maxMemoryBytes"]),
    },
    tempRoot: read(env, CONFIG_ENV.tempRoot),
    metricsPort: read(env, CONFIG_ENV.metricsPort),
    metricsHost: read(env, CONFIG_ENV.metricsHost),
    concurrency: read(env, CONFIG_ENV.concurrency),
    timezone: read(env, CONFIG_ENV.timezone),
    logFormat: read(env, CONFIG_ENV.logFormat)?.trim().toLowerCase(),
    moduleTimeoutMs: read(env, CONFIG_ENV.moduleTimeoutMs),
    leases: read(env, CONFIG_ENV.leases)?.trim().toLowerCase(),
    leaseSeconds: read(env, CONFIG_ENV.leaseSeconds),
  };
  // Its length is no secret, and the one thing the operator must learn to fix it.
  const tokenIssue = raw.token === undefined ? null : tokenProblem(raw.token);
  if (tokenIssue !== null) throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.token} (${tokenIssue})`);
  const result = ConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // A schedules issue's path goes on into the record (a dataset name); the variable is the first key.
  const setting = issue.path[0] === "schedules" ? "schedules" : issue.path.join(".");
  const variable = CONFIG_ENV[setting as keyof typeof CONFIG_ENV] ?? setting;
  // A bad record key is reported as "invalid_key" with the key check's own issue inside.
  const message = issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
  const detail = setting === "schedules" && issue.path.length > 1 ? `${String(issue.path[1])}: ${message}` : message;
  // A secret's detail is left out whole: a message derived from its value could echo part of it.
  const shown = SECRET_ENV.has(variable) ? " (its value is secret and not shown)" : ` (${detail})`;
  throw new EdgesnapError("config", `invalid setting ${variable}${shown}`);
}

/** The configuration as a log-safe object: secrets replaced by "[redacted]". */
export function describeConfig(config: Config): Record<string, unknown> {
  const store =
    config.store.kind === "s3"
      ? { ...config.store, accessKeyId: "[redacted]", secretAccessKey: "[redacted]" }
      : config.store;
  return { ...config, store, token: config.token ? "[redacted]" : undefined, alertWebhook: config.alertWebhook ? "[redacted]" : undefined };
}

/** What `applyDatasetOverrides` needs of a dataset (registry definitions have more, kept as they are). */
export interface OverridableDataset {
  readonly name: string;
  readonly schedule: string;
  readonly limits: Readonly<{ timeoutMs: number; memoryBytes: number }>;
}

/**
 * Applies the configuration's schedule overrides and limit caps to the registry's datasets.
 * Returns new objects (definitions are frozen); the other fields, `build` included, are kept.
 * @param unloadable names of datasets whose module failed to load: an override for one is not a typo
 * @throws {EdgesnapError} "config" naming EDGESNAP_SCHEDULES when it names a dataset that is not
 *   in the registry (a typo would otherwise silently keep the old schedule)
 */
export function applyDatasetOverrides<T extends OverridableDataset>(
  datasets: readonly T[],
  config: Pick<Config, "schedules" | "limits">,
  unloadable: readonly string[] = [],
): T[] {
  const known = new Set([...datasets.map((dataset) => dataset.name), ...unloadable]);
  const schedules = config.schedules ?? {};
  const unknown = Object.keys(schedules).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new EdgesnapError(
      "config",
      `invalid setting ${CONFIG_ENV.schedules} (unknown dataset ${unknown.map((name) => JSON.stringify(name)).join(", ")}; known: ${[...known].join(", ") || "none"})`,
    );
  }
  const { maxTimeoutMs, maxMemoryBytes } = config.limits ?? {};
  return datasets.map((dataset) => ({
    ...dataset,
    schedule: schedules[dataset.name] ?? dataset.schedule,
    limits: Object.freeze({
      timeoutMs: Math.min(dataset.limits.timeoutMs, maxTimeoutMs ?? Infinity),
      memoryBytes: Math.min(dataset.limits.memoryBytes, maxMemoryBytes ?? Infinity),
    }),
  }));
}

/**
 * Variables the supervisor sets for each run child; not settings for operators. The child reads
 * them with `loadRunSettings`.
 */
export const RUN_ENV = {
  /** The run's private dir, created and removed by the supervisor. */
  runDir: "EDGESNAP_RUN_DIR",
  /** The run's id, recorded as the version's run_id. */
  runId: "EDGESNAP_RUN_ID",
  /** "1": an operator's forced rebuild (publish unchanged content, skip the row-count gates). */
  force: "EDGESNAP_FORCE",
  /** `edgesnap preview`: build and plan only, publish nothing, write the report to this file. */
  previewReport: "EDGESNAP_PREVIEW_REPORT",
  /** With a preview: how many rows its report shows. */
  previewRows: "EDGESNAP_PREVIEW_ROWS",
  /**
   * The fencing token of the dataset's lease the run holds (when schedulers share leases): the
   * publisher checks it before it commits the manifest (contract/protocol/leases.ts).
   */
  leaseToken: "EDGESNAP_LEASE_TOKEN",
} as const;

/** Variables for development and tests, read where noted; not needed in production. */
export const DEV_ENV = {
  /** Any non-empty value: run loggers write debug lines too. */
  debug: "EDGESNAP_DEBUG",
  /** `npm start` only: milliseconds between local cron ticks (default one minute, the Worker's cron). */
  localCronIntervalMs: "EDGESNAP_LOCAL_CRON_INTERVAL_MS",
  /** Tests: how long a run's collection of unreferenced objects may hold the head's lock (default 2 minutes). */
  collectLockMs: "EDGESNAP_COLLECT_LOCK_MS",
} as const;

/** The Worker's cron, `* * * * *`, fired locally by `npm start`. */
export const DEFAULT_LOCAL_CRON_INTERVAL_MS = 60_000;

/** What a run child learns from its supervisor's variables. */
export interface RunSettings {
  /** The run dir the supervisor made, or undefined for a child started by hand. */
  runDir?: string;
  runId?: string;
  force: boolean;
  /** A preview's report file: the child previews instead of running. */
  previewReport?: string;
  previewRows?: number;
  /** The lease token the run must still hold when it publishes; undefined when leases are off. */
  leaseToken?: number;
}

/** The environment a run child gets for one run (on top of the supervisor's own). */
export function childRunEnv(run: { runDir?: string; runId?: string; force?: boolean; leaseToken?: number }): Record<string, string> {
  return {
    ...(run.runDir ? { [RUN_ENV.runDir]: run.runDir } : {}),
    ...(run.runId ? { [RUN_ENV.runId]: run.runId } : {}),
    ...(run.force ? { [RUN_ENV.force]: "1" } : {}),
    ...(run.leaseToken !== undefined ? { [RUN_ENV.leaseToken]: String(run.leaseToken) } : {}),
  };
}

/** Reads the run child's variables (RUN_ENV). */
export function loadRunSettings(env: NodeJS.ProcessEnv = process.env): RunSettings {
  const previewRows = Number(env[RUN_ENV.previewRows]);
  const token = Number(env[RUN_ENV.leaseToken]);
  return {
    runDir: env[RUN_ENV.runDir] || undefined,
    runId: env[RUN_ENV.runId] || undefined,
    force: env[RUN_ENV.force] === "1",
    previewReport: env[RUN_ENV.previewReport] || undefined,
    ...(Number.isSafeInteger(previewRows) && previewRows >= 0 && env[RUN_ENV.previewRows] ? { previewRows } : {}),
    leaseToken: Number.isSafeInteger(token) && token > 0 ? token : undefined,
  };
}

/** The lease period by default: a scheduler that dies has its datasets taken over within it. */
export const DEFAULT_LEASE_SECONDS = 30;

/** Whether schedulers share the work through leases, and the lease period. */
export interface LeaseSettings {
  enabled: boolean;
  periodMs: number;
}

/** The lease settings of a configuration: on by default with the S3 store, off with the local one. */
export function leaseSettings(config: Pick<Config, "store" | "leases" | "leaseSeconds">): LeaseSettings {
  const enabled = config.leases === undefined ? config.store.kind === "s3" : config.leases === "on";
  return { enabled, periodMs: (config.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000 };
}

/** How long importing one dataset module may take before it is reported broken. */
export const DEFAULT_MODULE_TIMEOUT_MS = 10_000;

/**
 * The time limit for importing one dataset module: EDGESNAP_MODULE_TIMEOUT_MS, default 10 s.
 * @throws {EdgesnapError} "config" naming the variable when it is not a positive integer
 */
export function moduleTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = read(env, CONFIG_ENV.moduleTimeoutMs)?.trim();
  if (raw === undefined) return DEFAULT_MODULE_TIMEOUT_MS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.moduleTimeoutMs} (expected a positive integer of milliseconds)`);
  }
  return value;
}

/**
 * The log format: EDGESNAP_LOG_FORMAT (`human` or `json`), else human when the output is a terminal
 * and json otherwise (a pipe, a file, a container's log).
 * @throws {EdgesnapError} "config" naming the variable for any other value
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, isTerminal = false): LogFormat {
  const raw = read(env, CONFIG_ENV.logFormat)?.trim().toLowerCase();
  if (raw === undefined) return isTerminal ? "human" : "json";
  if ((LOG_FORMATS as readonly string[]).includes(raw)) return raw as LogFormat;
  throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.logFormat} (expected "human" or "json")`);
}

/** True when EDGESNAP_DEBUG asks for debug log lines. */
export function debugLogging(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[DEV_ENV.debug]);
}

/**
 * The local cron's interval from EDGESNAP_LOCAL_CRON_INTERVAL_MS, default one minute.
 * @throws {EdgesnapError} "config" naming the variable when it is not a positive integer
 */
export function localCronIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[DEV_ENV.localCronIntervalMs]?.trim();
  if (!raw) return DEFAULT_LOCAL_CRON_INTERVAL_MS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new EdgesnapError("config", `invalid setting ${DEV_ENV.localCronIntervalMs} (expected a positive integer of milliseconds)`);
  }
  return value;
}

/**
 * How long a run's collection may hold the head's lock, from EDGESNAP_COLLECT_LOCK_MS; undefined
 * (the protocol's COLLECT_LOCK_MS) when unset.
 * @throws {EdgesnapError} "config" naming the variable when it is not a positive integer
 */
export function collectLockMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[DEV_ENV.collectLockMs]?.trim();
  if (!raw) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new EdgesnapError("config", `invalid setting ${DEV_ENV.collectLockMs} (expected a positive integer of milliseconds)`);
  return Number(raw);
}

/**
 * Where the operator commands find the edge, before their flags: EDGESNAP_EDGE_URL, EDGESNAP_TOKEN
 * and the local state dir, each trimmed, blank counting as unset. Read on their own (not through
 * `loadConfig`), so a bad store setting never stops `edgesnap status`.
 */
export function readEdgeEnv(env: NodeJS.ProcessEnv = process.env): { edgeUrl?: string; token?: string; persistTo: string } {
  return {
    edgeUrl: env[CONFIG_ENV.edgeUrl]?.trim() || undefined,
    token: env[CONFIG_ENV.token]?.trim() || undefined,
    persistTo: env[CONFIG_ENV["store.persistTo"]]?.trim() || DEFAULT_PERSIST_TO,
  };
}

/**
 * This process's environment, to hand to a child process; `withoutSecrets` leaves out every
 * SECRET_ENV variable (for processes that need none of them, like wrangler).
 */
export function inheritedEnv(options: { withoutSecrets?: boolean } = {}): NodeJS.ProcessEnv {
  const entries = Object.entries(process.env).filter(([name]) => !(options.withoutSecrets && SECRET_ENV.has(name)));
  return Object.fromEntries(entries);
}
