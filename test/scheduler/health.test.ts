/**
 * The scheduler's health: /healthz answers 503 "degraded" (and edgesnap_scheduler_degraded is 1)
 * while every dataset that has run failed its last run, so a probe or an uptime check sees a
 * scheduler whose every run fails; /livez stays 200 (a restart would fix nothing). Failures are
 * counted across triggers, so a frequent schedule whose runs are each retried still adds up. The
 * counting rule pure, then a real `edgesnap scheduler` running the real run child against a real
 * local edge.
 */
import { spawnSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailureStreaks } from "../../compute/scheduler/health.ts";
import { logEntries, spawnCli, waitFor } from "../support/processes.ts";
import { startLocalEdge, type LocalEdge } from "./local-edge.ts";

describe("runs of failures (pure)", () => {
  it("counts failures in a row across triggers, from the first one's end, until a run confirms the content", () => {
    const streaks = new FailureStreaks();
    expect(streaks.record("a", "failed", "2026-12-01T12:00:05.000Z")).toEqual({ consecutiveFailures: 1, failingSince: "2026-12-01T12:00:05.000Z" });
    expect(streaks.record("a", "timed-out", "2026-12-01T12:00:10.000Z")).toEqual({ consecutiveFailures: 2, failingSince: "2026-12-01T12:00:05.000Z" });
    // A cancelled run neither fails nor confirms.
    expect(streaks.record("a", "cancelled", "2026-12-01T12:00:12.000Z")).toEqual({ consecutiveFailures: 2, failingSince: "2026-12-01T12:00:05.000Z" });
    expect(streaks.record("a", "rejected", "2026-12-01T12:00:15.000Z").consecutiveFailures).toBe(3);
    expect(streaks.record("a", "unchanged", "2026-12-01T12:00:20.000Z")).toEqual({ consecutiveFailures: 0, failingSince: null });
  });

  it("is degraded only when every dataset that has run failed its last run", () => {
    const streaks = new FailureStreaks();
    expect(streaks.health(["a", "b"])).toEqual({ status: "ok", failing: [] });
    streaks.record("a", "failed", "2026-12-01T12:00:00.000Z");
    // b has not run yet: only a counts.
    expect(streaks.health(["a", "b"])).toEqual({ status: "degraded", failing: ["a"] });
    streaks.record("b", "ok", "2026-12-01T12:00:01.000Z");
    expect(streaks.health(["a", "b"]).status).toBe("ok");
    streaks.record("b", "memory-killed", "2026-12-01T12:00:02.000Z");
    expect(streaks.health(["a", "b"])).toEqual({ status: "degraded", failing: ["a", "b"] });
    streaks.record("c", "cancelled", "2026-12-01T12:00:03.000Z");
    expect(streaks.health(["a", "b", "c"]).status).toBe("degraded");
  });
});

describe("a real scheduler whose every dataset fails", () => {
  let local: LocalEdge;
  beforeAll(async () => {
    local = await startLocalEdge();
  }, 120_000);
  afterAll(async () => {
    await local?.stop();
  });

  it("answers /healthz 503 degraded naming them, keeps /livez 200, and says so in /metrics; recovers with a good run", async () => {
    const flag = path.join(local.work, "source-down");
    await writeFile(flag, "");
    const cli = spawnCli(
      ["scheduler"],
      { ...local.env(), EDGESNAP_DATASETS: "test/scheduler/fixtures/failing/datasets.ts", EDGESNAP_TEMP_ROOT: path.join(local.work, "runs"), FAILING_FLAG: flag },
      { timeoutMs: 150_000 },
    );
    try {
      const entries = () => logEntries(cli.stdout());
      const port = (await waitFor("the scheduler to start", async () => entries().find((e) => e.event === "scheduler-started"), 60_000)).port as number;
      const base = `http://127.0.0.1:${port}`;
      // Degraded from the first failed run (a dataset yet to run does not count); wait for both.
      const degraded = await waitFor(
        "/healthz to say degraded, naming both",
        async () => {
          const res = await fetch(`${base}/healthz`);
          if (res.status !== 503) return undefined;
          const body = (await res.json()) as { status: string; failing: string[] };
          return body.failing.length === 2 ? body : undefined;
        },
        90_000,
      );
      expect(degraded).toMatchObject({ status: "degraded", failing: ["fail-one", "fail-two"] });
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain("edgesnap_scheduler_degraded 1");
      expect(metrics).toMatch(/edgesnap_consecutive_failures\{dataset="fail-one"\} [1-9]/);
      const checked = spawnSync("promtool", ["check", "metrics"], { input: metrics, encoding: "utf8" });
      expect({ code: checked.status, output: `${checked.stdout}${checked.stderr}` }).toEqual({ code: 0, output: "" });
      // The records carry the count, for the edge.
      const failed = entries().find((e) => e.event === "run-finished" && e.dataset === "fail-one")!;
      expect(failed).toMatchObject({ outcome: "failed", consecutiveFailures: 1 });

      // The source comes back: one good run is enough.
      await rm(flag);
      expect((await local.admin("/datasets/fail-two/rebuild", {})).status).toBe(202);
      await waitFor(
        "/healthz to be ok again",
        async () => ((await fetch(`${base}/healthz`)).status === 200 ? true : undefined),
        90_000,
      );
      expect(await (await fetch(`${base}/metrics`)).text()).toContain("edgesnap_scheduler_degraded 0");
      process.kill(cli.pid, "SIGTERM");
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.kill();
    }
  }, 200_000);
});
