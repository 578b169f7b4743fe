/**
 * The compute side's configuration: read once from the environment at start, validated with zod,
 * and passed down explicitly. A missing or malformed setting stops the process with one message
 * naming the variable. Secrets (tokens, S3 keys) are never printed; `describeConfig` redacts them.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { EdgesnapError } from "./errors.ts";

const LocalStoreSchema = z.object({
  kind: z.literal("local"),
  /** Like `wrangler dev --persist-to`. */
  persistTo: z.string().default(".wrangler/state"),
  wranglerConfig: z.string().default("wrangler.toml"),
});

const S3StoreSchema = z.object({
  kind: z.literal("s3"),
  /** `https://<account_id>.r2.cloudflarestorage.com` for R2, or any S3 endpoint. */
  endpoint: z.url(),
  bucket: z.string().min(1),
  region: z.string().default("auto"),
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
});

export const ConfigSchema = z.object({
  store: z.discriminatedUnion("kind", [LocalStoreSchema, S3StoreSchema]),
  /** Base URL of the Worker, for publish notices (and, for operators, the admin API). */
  edgeUrl: z.url().default("http://127.0.0.1:8787"),
  /** Bearer token for the Worker's publish notice and admin API. */
  token: z.string().min(1).optional(),
  /** Module whose default export is the array of dataset definitions. */
  datasets: z.string().default("compute/datasets/index.ts"),
  /** Root under which every run gets a private temp dir. */
  tempRoot: z.string().default(path.join(os.tmpdir(), "edgesnap")),
  /** Port of the scheduler's /healthz and /metrics. 0 picks a free port. */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(9464),
  /** How many runs may execute at once. */
  concurrency: z.coerce.number().int().positive().default(Math.max(1, os.availableParallelism())),
  /** IANA timezone for cron schedules. */
  timezone: z.string().default("UTC"),
});
export type Config = z.infer<typeof ConfigSchema>;
export type StoreConfig = Config["store"];

/** Environment variable behind each setting, for error messages and the README. */
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
  datasets: "EDGESNAP_DATASETS",
  tempRoot: "EDGESNAP_TEMP_ROOT",
  metricsPort: "EDGESNAP_METRICS_PORT",
  concurrency: "EDGESNAP_CONCURRENCY",
  timezone: "EDGESNAP_TIMEZONE",
} as const;

const SECRET_SETTINGS = new Set(["token", "store.secretAccessKey", "store.accessKeyId"]);

/**
 * Reads and validates the configuration from environment variables.
 * @throws {EdgesnapError} code "config", naming the first bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const kind = env.EDGESNAP_STORE ?? "local";
  const raw = {
    store:
      kind === "s3"
        ? {
            kind,
            endpoint: env.EDGESNAP_S3_ENDPOINT,
            bucket: env.EDGESNAP_S3_BUCKET,
            region: env.EDGESNAP_S3_REGION,
            accessKeyId: env.EDGESNAP_S3_ACCESS_KEY_ID,
            secretAccessKey: env.EDGESNAP_S3_SECRET_ACCESS_KEY,
          }
        : { kind, persistTo: env.EDGESNAP_PERSIST_TO, wranglerConfig: env.EDGESNAP_WRANGLER_CONFIG },
    edgeUrl: env.EDGESNAP_EDGE_URL,
    token: env.EDGESNAP_TOKEN || undefined,
    datasets: env.EDGESNAP_DATASETS,
    tempRoot: env.EDGESNAP_TEMP_ROOT,
    metricsPort: env.EDGESNAP_METRICS_PORT,
    concurrency: env.EDGESNAP_CONCURRENCY,
    timezone: env.EDGESNAP_TIMEZONE,
  };
  const result = ConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const setting = issue.path.join(".");
  const variable = CONFIG_ENV[setting as keyof typeof CONFIG_ENV] ?? setting;
  const shown = SECRET_SETTINGS.has(setting) ? "" : ` (${issue.message})`;
  throw new EdgesnapError("config", `invalid setting ${variable}${shown}`);
}

/** The configuration as a log-safe object: secrets replaced by "[redacted]". */
export function describeConfig(config: Config): Record<string, unknown> {
  const store =
    config.store.kind === "s3"
      ? { ...config.store, accessKeyId: "[redacted]", secretAccessKey: "[redacted]" }
      : config.store;
  return { ...config, store, token: config.token ? "[redacted]" : undefined };
}
