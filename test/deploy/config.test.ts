/**
 * The compute configuration (compute/config.ts): defaults, one message per bad setting naming the
 * variable, the S3 settings, schedule overrides and limit caps, and that secrets never show.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  applyDatasetOverrides,
  childRunEnv,
  CONFIG_ENV,
  DEV_ENV,
  debugLogging,
  describeConfig,
  inheritedEnv,
  loadConfig,
  loadRunSettings,
  localCronIntervalMs,
  parseByteSize,
  readEdgeEnv,
  RUN_ENV,
} from "../../compute/config.ts";
import { EdgesnapError } from "../../compute/errors.ts";

const S3_ENV = {
  EDGESNAP_STORE: "s3",
  EDGESNAP_S3_ENDPOINT: "https://0123456789abcdef.r2.cloudflarestorage.com",
  EDGESNAP_S3_BUCKET: "edgesnap-snapshots",
  EDGESNAP_S3_ACCESS_KEY_ID: "AKIA-secret-access-key-id",
  EDGESNAP_S3_SECRET_ACCESS_KEY: "very-secret-key-value",
  EDGESNAP_EDGE_URL: "https://edgesnap.example.workers.dev",
  EDGESNAP_TOKEN: "admin-token-value-0123456789abcdef",
};
const SECRETS = [S3_ENV.EDGESNAP_S3_ACCESS_KEY_ID, S3_ENV.EDGESNAP_S3_SECRET_ACCESS_KEY, S3_ENV.EDGESNAP_TOKEN];

/** The EdgesnapError loadConfig throws for `env`. */
function configError(env: NodeJS.ProcessEnv): EdgesnapError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(EdgesnapError);
    return error as EdgesnapError;
  }
  throw new Error("loadConfig accepted the environment");
}

describe("loadConfig", () => {
  it("fills every default from an empty environment: the embedded default", () => {
    const config = loadConfig({});
    expect(config.store).toEqual({ kind: "local", persistTo: ".wrangler/state", wranglerConfig: "wrangler.toml" });
    expect(config.edgeUrl).toBe("http://127.0.0.1:8787");
    expect(config.token).toBeUndefined();
    expect(config.datasets).toBe("compute/examples/index.ts");
    expect(config.tempRoot).toBe(path.join(os.tmpdir(), "edgesnap"));
    expect(config.metricsPort).toBe(9464);
    expect(config.metricsHost).toBeUndefined();
    expect(config.concurrency).toBe(Math.max(1, os.availableParallelism()));
    expect(config.timezone).toBe("UTC");
    expect(config.schedules).toBeUndefined();
    expect(config.limits).toEqual({});
  });

  it("treats an empty variable as unset, as container runtimes often set them", () => {
    const config = loadConfig({ EDGESNAP_STORE: "", EDGESNAP_METRICS_PORT: "", EDGESNAP_TOKEN: "  ", EDGESNAP_TEMP_ROOT: "" });
    expect(config.store.kind).toBe("local");
    expect(config.metricsPort).toBe(9464);
    expect(config.token).toBeUndefined();
  });

  it("reads the container's settings", () => {
    const config = loadConfig({
      EDGESNAP_TEMP_ROOT: "/var/lib/edgesnap/tmp",
      EDGESNAP_METRICS_PORT: "9100",
      EDGESNAP_METRICS_HOST: "0.0.0.0",
      EDGESNAP_CONCURRENCY: "3",
      EDGESNAP_TIMEZONE: "Europe/Paris",
      EDGESNAP_DATASETS: "/app/datasets/index.ts",
    });
    expect(config).toMatchObject({
      tempRoot: "/var/lib/edgesnap/tmp",
      metricsPort: 9100,
      metricsHost: "0.0.0.0",
      concurrency: 3,
      timezone: "Europe/Paris",
      datasets: "/app/datasets/index.ts",
    });
  });

  it("reads the S3 store's settings, with region auto for R2", () => {
    const config = loadConfig(S3_ENV);
    expect(config.store).toEqual({
      kind: "s3",
      endpoint: S3_ENV.EDGESNAP_S3_ENDPOINT,
      bucket: "edgesnap-snapshots",
      region: "auto",
      accessKeyId: S3_ENV.EDGESNAP_S3_ACCESS_KEY_ID,
      secretAccessKey: S3_ENV.EDGESNAP_S3_SECRET_ACCESS_KEY,
    });
    expect(loadConfig({ ...S3_ENV, EDGESNAP_S3_REGION: "eu-west-1" }).store).toMatchObject({ region: "eu-west-1" });
  });

  it.each([
    "EDGESNAP_S3_ENDPOINT",
    "EDGESNAP_S3_BUCKET",
    "EDGESNAP_S3_ACCESS_KEY_ID",
    "EDGESNAP_S3_SECRET_ACCESS_KEY",
    "EDGESNAP_EDGE_URL",
    "EDGESNAP_TOKEN",
  ])("with the S3 store, a missing %s stops with exit code 2 and a message naming it", (variable) => {
    const env: NodeJS.ProcessEnv = { ...S3_ENV };
    delete env[variable];
    const error = configError(env);
    expect(error.code).toBe("config");
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(`missing setting ${variable} (required when EDGESNAP_STORE=s3)`);
    for (const secret of SECRETS) expect(error.message).not.toContain(secret);
  });

  it("an empty S3 variable counts as missing", () => {
    expect(configError({ ...S3_ENV, EDGESNAP_S3_BUCKET: "" }).message).toBe(
      "missing setting EDGESNAP_S3_BUCKET (required when EDGESNAP_STORE=s3)",
    );
  });

  it.each([
    ["EDGESNAP_STORE", "disk", 'invalid setting EDGESNAP_STORE (expected "local" or "s3")'],
    ["EDGESNAP_EDGE_URL", "not a url", "invalid setting EDGESNAP_EDGE_URL (expected an http(s) URL)"],
    ["EDGESNAP_EDGE_URL", "ftp://example.com", "invalid setting EDGESNAP_EDGE_URL (expected an http(s) URL)"],
    ["EDGESNAP_METRICS_PORT", "http", "invalid setting EDGESNAP_METRICS_PORT (expected an integer from 0 to 65535)"],
    ["EDGESNAP_METRICS_PORT", "70000", "invalid setting EDGESNAP_METRICS_PORT (expected an integer from 0 to 65535)"],
    ["EDGESNAP_CONCURRENCY", "0", "invalid setting EDGESNAP_CONCURRENCY (expected a positive integer)"],
    ["EDGESNAP_CONCURRENCY", "1.5", "invalid setting EDGESNAP_CONCURRENCY (expected a positive integer)"],
    ["EDGESNAP_TIMEZONE", "Mars/Olympus", "invalid setting EDGESNAP_TIMEZONE (expected an IANA time zone such as UTC or Europe/Paris)"],
    ["EDGESNAP_MAX_RUN_TIMEOUT_MS", "-5", "invalid setting EDGESNAP_MAX_RUN_TIMEOUT_MS (expected a positive integer of milliseconds)"],
    ["EDGESNAP_MAX_RUN_MEMORY", "lots", "invalid setting EDGESNAP_MAX_RUN_MEMORY (expected a byte size such as 1073741824, 512Mi or 1Gi)"],
    ["EDGESNAP_SCHEDULES", "{not json", "invalid setting EDGESNAP_SCHEDULES (expected a JSON object of dataset name to cron expression)"],
    ["EDGESNAP_SCHEDULES", '{"airport-delays":"every five minutes"}', "invalid setting EDGESNAP_SCHEDULES (airport-delays: expected a cron expression)"],
    ["EDGESNAP_SCHEDULES", '{"Bad_Name":"* * * * *"}', "invalid setting EDGESNAP_SCHEDULES (Bad_Name: dataset names match [a-z0-9][a-z0-9-]{0,63})"],
  ])("a malformed %s=%j stops with one message naming it", (variable, value, message) => {
    const error = configError({ [variable]: value });
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(message);
    expect(error.message.split("\n")).toHaveLength(1);
  });

  it("a malformed S3 endpoint is named; the message never echoes a secret", () => {
    const error = configError({ ...S3_ENV, EDGESNAP_S3_ENDPOINT: "r2.example" });
    expect(error.message).toBe("invalid setting EDGESNAP_S3_ENDPOINT (expected an http(s) URL)");
    for (const secret of SECRETS) expect(error.message).not.toContain(secret);
  });

  it("names a malformed secret setting without any detail that could echo its value", () => {
    const webhook = "hooks.example.com/services/T000/B000/very-secret-path";
    const error = configError({ EDGESNAP_ALERT_WEBHOOK: webhook });
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe("invalid setting EDGESNAP_ALERT_WEBHOOK (its value is secret and not shown)");
    expect(error.message).not.toContain("very-secret-path");
    // The same mistake in a setting that is not secret is explained.
    expect(configError({ EDGESNAP_EDGE_URL: webhook }).message).toBe("invalid setting EDGESNAP_EDGE_URL (expected an http(s) URL)");
  });

  it("names every variable it reads in CONFIG_ENV", () => {
    expect(Object.values(CONFIG_ENV).every((name) => name.startsWith("EDGESNAP_"))).toBe(true);
    expect(new Set(Object.values(CONFIG_ENV)).size).toBe(Object.values(CONFIG_ENV).length);
    expect(Object.values(CONFIG_ENV)).toEqual(
      expect.arrayContaining(["EDGESNAP_SCHEDULES", "EDGESNAP_MAX_RUN_TIMEOUT_MS", "EDGESNAP_MAX_RUN_MEMORY", "EDGESNAP_METRICS_HOST"]),
    );
  });
});

describe("docs/deploy.md", () => {
  it("documents every configuration variable", () => {
    const docs = readFileSync(path.resolve(import.meta.dirname, "../../docs/deploy.md"), "utf8");
    expect(Object.values(CONFIG_ENV).filter((name) => !docs.includes(`\`${name}\``))).toEqual([]);
  });

  it("documents the development variables and the default datasets module", () => {
    const docs = readFileSync(path.resolve(import.meta.dirname, "../../docs/deploy.md"), "utf8");
    expect(Object.values(DEV_ENV).filter((name) => !docs.includes(`\`${name}\``))).toEqual([]);
    expect(docs).toContain(`| \`${CONFIG_ENV.datasets}\` | \`${loadConfig({}).datasets}\` |`);
  });
});

describe("the variables outside CONFIG_ENV, read in the same module", () => {
  it("reads what the supervisor hands a run child, and writes it the same way", () => {
    expect(loadRunSettings({})).toEqual({ runDir: undefined, runId: undefined, force: false });
    const env = childRunEnv({ runDir: "/tmp/run-1", runId: "0001-abc", force: true });
    expect(env).toEqual({ [RUN_ENV.runDir]: "/tmp/run-1", [RUN_ENV.runId]: "0001-abc", [RUN_ENV.force]: "1" });
    expect(loadRunSettings(env)).toEqual({ runDir: "/tmp/run-1", runId: "0001-abc", force: true });
    expect(childRunEnv({ force: false })).toEqual({});
  });

  it("reads the debug switch and the local cron interval, refusing a malformed interval with one line", () => {
    expect(debugLogging({})).toBe(false);
    expect(debugLogging({ EDGESNAP_DEBUG: "1" })).toBe(true);
    expect(localCronIntervalMs({})).toBe(60_000);
    expect(localCronIntervalMs({ EDGESNAP_LOCAL_CRON_INTERVAL_MS: " 250 " })).toBe(250);
    for (const bad of ["0", "1.5", "soon"]) {
      expect(() => localCronIntervalMs({ EDGESNAP_LOCAL_CRON_INTERVAL_MS: bad })).toThrow(
        "invalid setting EDGESNAP_LOCAL_CRON_INTERVAL_MS (expected a positive integer of milliseconds)",
      );
    }
  });

  it("reads where the edge is for the operator commands without validating the rest", () => {
    expect(readEdgeEnv({ EDGESNAP_STORE: "s3" })).toEqual({ edgeUrl: undefined, token: undefined, persistTo: ".wrangler/state" });
    expect(readEdgeEnv({ EDGESNAP_EDGE_URL: " https://e.example ", EDGESNAP_TOKEN: "t ", EDGESNAP_PERSIST_TO: "/s" })).toEqual({
      edgeUrl: "https://e.example",
      token: "t",
      persistTo: "/s",
    });
  });

  it("hands children this environment, without the secrets when asked", () => {
    process.env.EDGESNAP_TEST_INHERITED = "yes";
    const saved = process.env.EDGESNAP_TOKEN;
    process.env.EDGESNAP_TOKEN = "secret-token";
    try {
      expect(inheritedEnv()).toMatchObject({ EDGESNAP_TEST_INHERITED: "yes", EDGESNAP_TOKEN: "secret-token" });
      const withoutSecrets = inheritedEnv({ withoutSecrets: true });
      expect(withoutSecrets.EDGESNAP_TEST_INHERITED).toBe("yes");
      expect(withoutSecrets.EDGESNAP_TOKEN).toBeUndefined();
    } finally {
      delete process.env.EDGESNAP_TEST_INHERITED;
      if (saved === undefined) delete process.env.EDGESNAP_TOKEN;
      else process.env.EDGESNAP_TOKEN = saved;
    }
  });
});

describe("describeConfig", () => {
  it("redacts the token and both S3 keys and keeps everything else", () => {
    const described = describeConfig(loadConfig(S3_ENV));
    const text = JSON.stringify(described);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(described.token).toBe("[redacted]");
    expect(described.store).toMatchObject({
      endpoint: S3_ENV.EDGESNAP_S3_ENDPOINT,
      bucket: "edgesnap-snapshots",
      accessKeyId: "[redacted]",
      secretAccessKey: "[redacted]",
    });
    expect(described.edgeUrl).toBe(S3_ENV.EDGESNAP_EDGE_URL);
  });
});

describe("parseByteSize", () => {
  it("reads byte sizes the way Kubernetes resource limits write them", () => {
    expect(parseByteSize("1073741824")).toBe(1024 ** 3);
    expect(parseByteSize("512Mi")).toBe(512 * 1024 ** 2);
    expect(parseByteSize("1Gi")).toBe(1024 ** 3);
    expect(parseByteSize("2G")).toBe(2e9);
    expect(parseByteSize("1.5Gi")).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize("0")).toBeNull();
    expect(parseByteSize("12 apples")).toBeNull();
  });
});

describe("applyDatasetOverrides", () => {
  const build = () => {
    throw new Error("not called");
  };
  const datasets = [
    { name: "airport-delays", schedule: "*/5 * * * *", limits: { timeoutMs: 90_000, memoryBytes: 1024 ** 3 }, build },
    { name: "daily-delays", schedule: "0 * * * *", limits: { timeoutMs: 10_000, memoryBytes: 256 * 1024 ** 2 }, build },
  ];

  it("replaces the schedules EDGESNAP_SCHEDULES names and keeps the others and build", () => {
    const config = loadConfig({ EDGESNAP_SCHEDULES: '{"daily-delays":"30 2 * * *"}' });
    const [airport, daily] = applyDatasetOverrides(datasets, config);
    expect(airport!.schedule).toBe("*/5 * * * *");
    expect(daily!.schedule).toBe("30 2 * * *");
    expect(daily!.build).toBe(build);
  });

  it("lowers limits above the caps to the caps and keeps lower ones", () => {
    const config = loadConfig({ EDGESNAP_MAX_RUN_TIMEOUT_MS: "60000", EDGESNAP_MAX_RUN_MEMORY: "512Mi" });
    const [airport, daily] = applyDatasetOverrides(datasets, config);
    expect(airport!.limits).toEqual({ timeoutMs: 60_000, memoryBytes: 512 * 1024 ** 2 });
    expect(daily!.limits).toEqual({ timeoutMs: 10_000, memoryBytes: 256 * 1024 ** 2 });
  });

  it("keeps every dataset as defined when nothing is configured", () => {
    expect(applyDatasetOverrides(datasets, loadConfig({}))).toEqual(datasets);
  });

  it("refuses a schedule override for a dataset that does not exist, naming the variable", () => {
    const config = loadConfig({ EDGESNAP_SCHEDULES: '{"airport-delay":"* * * * *"}' });
    expect(() => applyDatasetOverrides(datasets, config)).toThrow(
      'invalid setting EDGESNAP_SCHEDULES (unknown dataset "airport-delay"; known: airport-delays, daily-delays)',
    );
  });
});
