/**
 * The operator commands against a real `wrangler dev` (local workerd, KV and R2 in a temp dir) and
 * a real scheduler running the real run child: the scheduler polls the edge for rebuild requests
 * and reports its runs, and the CLI talks to the admin API, as in production.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminDataset, RebuildRequest, RunsPage } from "../../contract/index.ts";
import { runCli } from "../../compute/cli/main.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import type { LogEntry } from "../../compute/scheduler/index.ts";
import { startOperatedScheduler, type OperatedScheduler } from "../../compute/scheduler/operated.ts";
import { freePort, waitFor } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "ops-test-token-7f3a-0123456789abcdef";
const DATASET = "ops-greetings";

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe("operator CLI against wrangler dev and a running scheduler", () => {
  let work: string;
  let csv: string;
  let edge: WranglerDev;
  let operated: OperatedScheduler;
  const logs: LogEntry[] = [];
  const edgeOutput: string[] = [];

  async function cli(argv: string[], options: { auth?: boolean } = {}): Promise<CliResult> {
    let stdout = "";
    let stderr = "";
    const extra = options.auth === false ? ["--url", edge.url] : ["--url", edge.url, "--token", TOKEN];
    const code = await runCli([...argv, ...extra], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
  }

  async function cliJson<T>(argv: string[]): Promise<T> {
    const result = await cli([...argv, "--json"]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as T;
  }

  async function served(): Promise<{ version: string; body: unknown }> {
    const response = await fetch(`${edge.url}/v1/datasets/${DATASET}`);
    expect(response.status).toBe(200);
    return { version: response.headers.get("x-edgesnap-version")!, body: await response.json() };
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-ops-"));
    csv = path.join(work, "greetings.csv");
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\n");
    const persistTo = path.join(work, "state");
    edge = await startWranglerDev({
      port: await freePort(),
      persistTo,
      configPath: path.join(REPO_ROOT, "wrangler.toml"),
      secrets: { EDGESNAP_TOKEN: TOKEN },
      adminToken: TOKEN,
      onLine: (line) => edgeOutput.push(line),
    });
    operated = await startOperatedScheduler(
      {
        config: { tempRoot: path.join(work, "runs"), metricsPort: 0, concurrency: 2, timezone: "UTC" },
        datasets: [{ name: DATASET, schedule: "0 0 1 1 *" }],
        cwd: REPO_ROOT,
        env: {
          EDGESNAP_STORE: "local",
          EDGESNAP_PERSIST_TO: persistTo,
          EDGESNAP_WRANGLER_CONFIG: path.join(REPO_ROOT, "wrangler.toml"),
          EDGESNAP_EDGE_URL: edge.url,
          EDGESNAP_TOKEN: TOKEN,
          EDGESNAP_DATASETS: "test/operators/fixtures/datasets.ts",
          EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
          OPS_SOURCE_CSV: csv,
        },
        runAtStart: true,
        retries: 0,
        log: (entry) => logs.push(entry),
      },
      { edgeUrl: edge.url, token: TOKEN, pollIntervalMs: 300 },
    );
  }, 120_000);

  afterAll(async () => {
    await operated?.stop({ graceMs: 0 });
    await edge?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("status shows the dataset the scheduler published at start, with its reported run", async () => {
    const row = await waitFor(
      "the startup run to be published and reported",
      async () => {
        const { datasets } = await cliJson<{ datasets: AdminDataset[] }>(["status"]);
        const found = datasets.find((d) => d.name === DATASET);
        return found?.current && found.last_run ? found : undefined;
      },
      60_000,
    ).catch((error) => {
      throw new Error(`${error.message}\n${JSON.stringify(logs.slice(-20), null, 1)}\n${edgeOutput.slice(-20).join("\n")}`);
    });
    expect(row).toMatchObject({ rows: 2, pinned: false, last_run: { outcome: "ok", trigger: "startup", version: row.current } });
    const table = await cli(["status"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^DATASET\s+CURRENT\s+AGE\s+ROWS\s+SIZE/);
    expect(table.stdout).toContain(DATASET);
    expect(table.stdout).toContain(row.current!);
  }, 90_000);

  it("takes the global options before the command as well as after it (edgesnap --url X status)", async () => {
    const run = async (argv: string[]) => {
      let stdout = "";
      let stderr = "";
      const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
      return { code, stdout, stderr };
    };
    const before = await run(["--url", edge.url, "--token", TOKEN, "--json", "status"]);
    expect(before.code, before.stderr).toBe(0);
    expect((JSON.parse(before.stdout) as { datasets: AdminDataset[] }).datasets.map((d) => d.name)).toContain(DATASET);
    const mixed = await run(["--port", new URL(edge.url).port, "status", "--token", TOKEN]);
    expect(mixed.code, mixed.stderr).toBe(0);
    expect(mixed.stdout).toMatch(/^DATASET\s+CURRENT/);
    // The command's own flag wins over the one before it: a dead --url before, the live one after.
    const deadPort = await freePort();
    const own = await run(["--url", `http://127.0.0.1:${deadPort}`, "--token", TOKEN, "runs", DATASET, "--url", edge.url, "--json"]);
    expect(own.code, own.stderr).toBe(0);
    expect((JSON.parse(own.stdout) as RunsPage).runs.length).toBeGreaterThan(0);
    // And the one before it is used, not ignored: a dead edge before the command is the edge reached.
    const dead = await run(["--url", `http://127.0.0.1:${deadPort}`, "--token", TOKEN, "status"]);
    expect(dead.code).toBe(8);
    expect(dead.stderr).toContain(`127.0.0.1:${deadPort}`);
  }, 60_000);

  it("rebuild --wait: the running scheduler executes the request and the new version is served", async () => {
    const before = await served();
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\n");
    const result = await cli(["rebuild", DATASET, "--wait", "--interval", "0.3", "--timeout", "60"]);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stderr).toContain("waiting for the scheduler");
    const version = /new version (\S+)/.exec(result.stdout)?.[1];
    expect(version).toBeDefined();
    expect(version).not.toBe(before.version);
    const after = await served();
    expect(after.version).toBe(version);
    expect(after.body).toContainEqual({ lang: "de", greeting: "hallo" });

    // The request links to the run that served it, and the run back to the request.
    const page = await cliJson<RunsPage>(["runs", DATASET]);
    const newest = page.runs[0]!;
    expect(newest).toMatchObject({ trigger: "rebuild-request", outcome: "ok", version });
    const request = await cliJson<RebuildRequest>(["rebuild", DATASET, "--wait", "--interval", "0.3"]).catch(() => null);
    expect(request?.outcome).toBe("unchanged");
    const runsTable = await cli(["runs", DATASET]);
    expect(runsTable.stdout).toMatch(/^RUN\s+STARTED\s+TRIGGER\s+OUTCOME/);
    expect(runsTable.stdout).toContain("rebuild-request");
    expect(logs.some((l) => l.event === "rebuild-request-claimed")).toBe(true);
  }, 90_000);

  it("rollback serves a previous version at the public URL, pins, and forward again with unpin", async () => {
    const { datasets } = await cliJson<{ datasets: AdminDataset[] }>(["status"]);
    const row = datasets.find((d) => d.name === DATASET)!;
    expect(row.versions.length).toBeGreaterThanOrEqual(2);
    const [newest, previous] = row.versions as [string, string];

    const back = await cli(["rollback", DATASET, previous]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`now serving ${previous}`);
    expect((await served()).version).toBe(previous);
    expect((await served()).body).not.toContainEqual({ lang: "de", greeting: "hallo" });
    expect((await cliJson<{ datasets: AdminDataset[] }>(["status"])).datasets.find((d) => d.name === DATASET)?.pinned).toBe(true);

    const forward = await cli(["rollback", DATASET, newest, "--no-pin"]);
    expect(forward.code, forward.stderr).toBe(0);
    expect((await served()).version).toBe(newest);
    const pinned = await cli(["pin", DATASET]);
    expect(pinned.stdout).toContain("pinned at");
    const unpinned = await cliJson<{ pinned: boolean }>(["unpin", DATASET]);
    expect(unpinned.pinned).toBe(false);
  }, 60_000);

  it("prune --dry-run lists old versions without deleting; prune deletes them", async () => {
    const { datasets } = await cliJson<{ datasets: AdminDataset[] }>(["status"]);
    const old = datasets.find((d) => d.name === DATASET)!.versions.slice(1);
    expect(old.length).toBeGreaterThan(0);
    const dry = await cli(["prune", "--keep", "1", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("would delete");
    for (const v of old) expect(dry.stdout).toContain(v);
    expect((await fetch(`${edge.url}/v1/datasets/${DATASET}/versions/${old[0]}`)).status).toBe(200);

    const real = await cliJson<{ dry_run: boolean; datasets: { dataset: string; versions: string[] }[] }>(["prune", "--keep", "1"]);
    expect(real.dry_run).toBe(false);
    expect(real.datasets.find((d) => d.dataset === DATASET)?.versions.sort()).toEqual([...old].sort());
    expect((await fetch(`${edge.url}/v1/datasets/${DATASET}/versions/${old[0]}`)).status).toBe(404);
    expect((await fetch(`${edge.url}/v1/datasets/${DATASET}`)).status).toBe(200);
  }, 60_000);

  it("fails with one line and a distinct exit code: unknown dataset 3, bad token 9, no token 9, unreachable edge 8, bad argument 2", async () => {
    const unknown = await cli(["rebuild", "no-such-dataset"]);
    expect(unknown).toMatchObject({ code: 3, stdout: "" });
    expect(unknown.stderr).toBe("edgesnap: unknown dataset no-such-dataset\n");

    const badToken = await cli(["status", "--token", "wrong"], { auth: false });
    expect(badToken.code).toBe(9);
    expect(badToken.stderr).toMatch(/^edgesnap: the edge at http:\/\/127\.0\.0\.1:\d+ refused the token .*\n$/);
    expect(badToken.stderr).not.toContain("wrong");

    const saved = process.env.EDGESNAP_TOKEN;
    delete process.env.EDGESNAP_TOKEN;
    try {
      const noToken = await cli(["status"], { auth: false });
      expect(noToken.code).toBe(9);
      expect(noToken.stderr).toContain("no admin token");
    } finally {
      if (saved !== undefined) process.env.EDGESNAP_TOKEN = saved;
    }

    let stderr = "";
    const deadPort = await freePort();
    const unreachable = await runCli(["status", "--url", `http://127.0.0.1:${deadPort}`, "--token", TOKEN], { stdout: () => {}, stderr: (t) => (stderr += t) });
    expect(unreachable).toBe(8);
    expect(stderr).toMatch(/^edgesnap: cannot reach the edge at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/);

    const badVersion = await cli(["rollback", DATASET, "not-a-version"]);
    expect(badVersion.code).toBe(2);
    expect(badVersion.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  }, 30_000);
});
