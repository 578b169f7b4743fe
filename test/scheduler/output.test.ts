/**
 * The scheduler's output for people and for machines, from a real `edgesnap scheduler` process
 * running the real run child (polars) against a real local edge (wrangler dev): one JSON object per
 * line when the output is not a terminal, with each run child's entries merged in as objects; short
 * human lines with EDGESNAP_LOG_FORMAT=human or on a terminal (a pseudo-terminal from `script`):
 * one line per finished run, the failure's reason in full, none of each run's chatter.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogEntry } from "../../compute/run/logger.ts";
import { startNpmStart } from "../support/npm-start.ts";
import { descendantsOf, isAlive, spawnCli, waitFor, type SpawnedCli } from "../support/processes.ts";
import { startLocalEdge, type LocalEdge } from "./local-edge.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const DATASETS = "test/scheduler/fixtures/output/datasets.ts";

let local: LocalEdge;
beforeAll(async () => {
  local = await startLocalEdge();
}, 120_000);
afterAll(async () => {
  await local?.stop();
});

function schedulerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...local.env(), EDGESNAP_DATASETS: DATASETS, EDGESNAP_TEMP_ROOT: path.join(local.work, "runs"), EDGESNAP_CONCURRENCY: "2", ...extra };
}

/** Stops a scheduler with SIGTERM and waits for its exit (code 0). */
async function stopScheduler(cli: SpawnedCli): Promise<void> {
  process.kill(cli.pid, "SIGTERM");
  const { code } = await cli.exit;
  expect(code).toBe(0);
}

describe("the scheduler's output", () => {
  it("is one JSON object per line when it is not a terminal, with the run child's entries merged as objects", async () => {
    const cli = spawnCli(["scheduler"], schedulerEnv(), { timeoutMs: 120_000 });
    try {
      const entries = () =>
        cli
          .stdout()
          .split("\n")
          .filter((line) => line.length > 0)
          .map((line) => JSON.parse(line) as LogEntry);
      await waitFor("both runs to finish", async () => (entries().filter((e) => e.event === "run-finished").length >= 2 ? true : undefined), 90_000);
      await stopScheduler(cli);

      const all = entries();
      const started = all.find((e) => e.event === "run-started" && e.dataset === "out-colors")!;
      // The child's own entries, as objects with the scheduler's dataset and run id.
      const childEntries = all.filter((e) => e.run === started.run && !["run-started", "run-finished"].includes(e.event));
      expect(childEntries.map((e) => e.event)).toEqual(expect.arrayContaining(["build started", "colors counted", "built", "run finished"]));
      expect(childEntries.find((e) => e.event === "colors counted")).toMatchObject({ level: "info", dataset: "out-colors", run: started.run, colors: 3 });
      expect(childEntries.find((e) => e.event === "built")).toMatchObject({ rows: 3 });
      // Never a child's JSON as an escaped string.
      expect(all.filter((e) => typeof e.line === "string" && (e.line as string).startsWith("{"))).toEqual([]);
      expect(all.every((e) => typeof e.time === "string" && typeof e.level === "string" && typeof e.event === "string")).toBe(true);
      const failed = all.find((e) => e.event === "run-finished" && e.dataset === "out-broken")!;
      expect(failed).toMatchObject({ level: "warn", outcome: "failed" });
      expect(failed.reason).toContain("the source is unreachable: connection refused by source.example");
    } finally {
      cli.kill();
    }
  }, 150_000);

  it("is short human lines with EDGESNAP_LOG_FORMAT=human: one per finished run, a failure's reason in full, no chatter", async () => {
    const cli = spawnCli(["scheduler"], schedulerEnv({ EDGESNAP_LOG_FORMAT: "human" }), { timeoutMs: 120_000 });
    try {
      const lines = () => cli.stdout().split("\n").filter((line) => line.length > 0);
      await waitFor("both finished-run lines", async () => (lines().some((l) => / out-colors {2}(ok|unchanged) /.test(l)) && lines().some((l) => / out-broken {2}FAILED /.test(l)) ? true : undefined), 90_000);
      await stopScheduler(cli);

      const out = lines();
      expect(out.filter((line) => line.trimStart().startsWith("{"))).toEqual([]);
      const ok = out.find((l) => / out-colors {2}(ok|unchanged) /.test(l))!;
      // dataset, outcome, version, rows, size, duration, peak memory.
      expect(ok).toMatch(/^\d\d:\d\d:\d\d out-colors {2}(ok|unchanged) {2}\d{8}T\d{9}Z-[0-9a-f]{8} {2}3 rows {2}\d+(\.\d)? (B|KiB) {2}\d+(ms|\.\ds) {2}peak \d+\.\d MiB$/);
      const failed = out.find((l) => / out-broken {2}FAILED /.test(l))!;
      expect(failed).toMatch(/\(attempt 1, retry in 10\.0s\): build failed: the source is unreachable: connection refused by source\.example$/);
      expect(out.some((l) => /scheduler started: 2 datasets \(out-colors, out-broken\); \/healthz and \/metrics at http:\/\/127\.0\.0\.1:\d+/.test(l))).toBe(true);
      // None of each run's progress: no "build started", "built", "published", "run-started".
      // The child's own summary line and its "failed" entry repeat the finished-run line: left out too.
      expect(out.filter((l) => /build started|built|published|run-started|run finished|colors counted|child-output|code=/.test(l))).toEqual([]);
      expect(out.at(-1)).toMatch(/scheduler stopped$/);
    } finally {
      cli.kill();
    }
  }, 150_000);

  it("under `npm start` (human lines asked for), shows each run's one finished-run line and a failure's reason", async () => {
    const system = await startNpmStart({
      EDGESNAP_DATASETS: DATASETS,
      EDGESNAP_PERSIST_TO: path.join(local.work, "npm-start-state"),
      EDGESNAP_TEMP_ROOT: path.join(local.work, "npm-start-runs"),
      EDGESNAP_LOG_FORMAT: "human",
    });
    try {
      const lines = () => system.output().split("\n");
      const ok = await waitFor("the finished-run line", async () => lines().find((l) => /^\d\d:\d\d:\d\d out-colors {2}ok {2}\S+ {2}3 rows /.test(l)), 120_000);
      expect(ok).toMatch(/ peak \d+\.\d MiB$/);
      const failed = await waitFor("the failed run's line", async () => lines().find((l) => / out-broken {2}FAILED /.test(l)), 60_000);
      expect(failed).toMatch(/: build failed: the source is unreachable: connection refused by source\.example$/);
      // One line per run: none of the child's progress, no JSON from the scheduler.
      expect(lines().filter((l) => /out-colors/.test(l) && /built|build started|published|"event"/.test(l))).toEqual([]);
    } finally {
      await system.stop();
    }
  }, 180_000);

  it("defaults to the human lines on a terminal", async () => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EDGESNAP_")));
    // `script` gives the scheduler a pseudo-terminal as its stdout, like an interactive shell.
    const command = `exec ${JSON.stringify(process.execPath)} compute/cli/bin.ts scheduler`;
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: REPO_ROOT,
      env: { ...base, EDGESNAP_METRICS_PORT: "0", ...schedulerEnv() },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await waitFor("a finished-run line on the terminal", async () => (/ out-colors {2}(ok|unchanged) /.test(output) ? true : undefined), 90_000);
      expect(output).toMatch(/scheduler started: 2 datasets/);
      expect(output).not.toMatch(/"event":/);
    } finally {
      const scheduler = descendantsOf(child.pid!).filter(isAlive);
      for (const pid of scheduler) process.kill(pid, "SIGTERM");
      await exited;
    }
  }, 150_000);
});
