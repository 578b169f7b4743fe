/**
 * The Worker's deployment config (wrangler.toml): the local default, staging and production each
 * bundle (`wrangler deploy --dry-run`, what CI can check without an account), and each deployed
 * environment has its own KV namespace and R2 bucket under the binding names the Worker uses, the
 * reconcile cron, Workers Cache, a staleness bound, and no secret in its vars.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

const ROOT = path.resolve(import.meta.dirname, "../..");
const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");
/** `--env ""` selects the top-level (local default) section explicitly. */
const ENVIRONMENTS = ["", "staging", "production"] as const;
const DEPLOYED = ["staging", "production"] as const;

async function dryRun(env: string, outdir: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, `--env=${env}`], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  // Wrangler colours its output even into a pipe; strip the escapes so the checks see plain text.
  return { code, output: output.replace(/\x1b\[[0-9;]*m/g, "") };
}

describe("wrangler deploy --dry-run", () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-dry-run-"));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.each(ENVIRONMENTS)("bundles the Worker for env %j with both bindings and no config warning", async (env) => {
    const outdir = path.join(work, env || "default");
    const { code, output } = await dryRun(env, outdir);
    expect(code, output).toBe(0);
    expect(await readdir(outdir)).toContain("index.js");
    expect((await stat(path.join(outdir, "index.js"))).size).toBeGreaterThan(10_000);
    expect(output).toMatch(/env\.SNAPSHOT_KV \(/);
    expect(output).toMatch(/env\.SNAPSHOTS \(/);
    // Wrangler warns (and deploys without it) when a top-level binding or var is missing from an
    // environment, because those are not inherited: a binding added at the top level must be
    // added to every environment too.
    expect(output).not.toMatch(/exists at the top level, but not on/);
    expect(output).not.toMatch(/\[WARNING\]/);
  }, 120_000);
});

/** The parts of wrangler's resolved config these tests read. */
interface EnvironmentConfig {
  name: string | undefined;
  kv_namespaces: { binding: string; id?: string }[];
  r2_buckets: { binding: string; bucket_name?: string }[];
  triggers: { crons?: string[] };
  vars: Record<string, unknown>;
  cache?: { enabled: boolean };
}

describe("wrangler.toml environments", () => {
  const read = (env?: string): EnvironmentConfig =>
    unstable_readConfig({ config: path.join(ROOT, "wrangler.toml"), env }) as EnvironmentConfig;
  const local = read();

  it.each(DEPLOYED)("%s has its own Worker name, KV namespace and R2 bucket under the Worker's binding names", (env) => {
    const config = read(env);
    expect(config.name).toBe(`edgesnap-${env}`);
    expect(config.kv_namespaces.map((kv) => kv.binding)).toEqual(local.kv_namespaces.map((kv) => kv.binding));
    expect(config.r2_buckets.map((r2) => r2.binding)).toEqual(local.r2_buckets.map((r2) => r2.binding));
    expect(config.kv_namespaces[0]!.id).not.toBe(local.kv_namespaces[0]!.id);
    expect(config.kv_namespaces[0]!.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it("keeps staging and production data apart", () => {
    const [staging, production] = DEPLOYED.map((env) => read(env));
    expect(staging!.kv_namespaces[0]!.id).not.toBe(production!.kv_namespaces[0]!.id);
    expect(staging!.r2_buckets[0]!.bucket_name).not.toBe(production!.r2_buckets[0]!.bucket_name);
  });

  it.each(DEPLOYED)("%s runs the KV reconcile cron and has the same vars as the local default", (env) => {
    const config = read(env);
    expect(config.triggers.crons).toEqual(local.triggers.crons);
    expect(config.triggers.crons?.length).toBeGreaterThan(0);
    expect(Object.keys(config.vars).sort()).toEqual(Object.keys(local.vars).sort());
  });

  it.each(DEPLOYED)("%s turns on Workers Cache in front of the Worker", (env) => {
    expect(read(env).cache).toEqual({ enabled: true });
  });

  it("the local default leaves Workers Cache off (wrangler dev has none; the Cache API stands in)", () => {
    expect(local.cache?.enabled ?? false).toBe(false);
  });

  it.each(ENVIRONMENTS)("env %j sets a staleness bound FRESHNESS_SECONDS of whole seconds", (env) => {
    expect(read(env || undefined).vars.FRESHNESS_SECONDS).toMatch(/^[1-9]\d*$/);
  });

  it.each(ENVIRONMENTS)("env %j keeps the admin token out of vars (it is a secret: wrangler secret put)", (env) => {
    const vars = read(env || undefined).vars;
    expect(Object.keys(vars).filter((name) => /TOKEN|SECRET|KEY|PASSWORD|WEBHOOK/i.test(name))).toEqual([]);
  });
});
