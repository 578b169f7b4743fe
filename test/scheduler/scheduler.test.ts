import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EdgesnapError } from "../../compute/errors.ts";
import { startScheduler } from "../../compute/scheduler/index.ts";
import { NEVER, groupMembers, isAlive, startTestScheduler, waitFor, type TestScheduler } from "./helpers.ts";

let current: TestScheduler | null = null;
afterEach(async () => {
  await current?.cleanup();
  current = null;
});

const MIB = 1024 * 1024;

describe("scheduler against misbehaving children", () => {
  it("records every way a run can end, leaves no process and no temp file, keeps serving, and keeps answering /healthz", async () => {
    const served = path.join(await fs.mkdtemp(path.join((await import("node:os")).tmpdir(), "edgesnap-served-")), "current");
    current = await startTestScheduler(
      [
        { name: "good", schedule: NEVER, fixture: "slow-ok" },
        { name: "throws", schedule: NEVER, fixture: "throws" },
        { name: "hangs", schedule: NEVER, fixture: "hang", limits: { timeoutMs: 1000 } },
        { name: "hog", schedule: NEVER, fixture: "allocate", limits: { memoryBytes: 256 * MIB } },
        { name: "shot", schedule: NEVER, fixture: "hang", limits: { timeoutMs: 60_000 } },
        { name: "spawner", schedule: NEVER, fixture: "grandchild", limits: { timeoutMs: 1500 } },
        { name: "junk", schedule: NEVER, fixture: "junk-crash" },
        { name: "garbage", schedule: NEVER, fixture: "garbage" },
      ],
      { env: { EDGESNAP_TEST_SERVED: served } },
    );
    const { scheduler, logs, finished, tempRoot } = current;

    // A good run first: this is the version that must stay served.
    expect(scheduler.trigger("good")).toBe("started");
    await scheduler.idle();
    const servedVersion = await fs.readFile(served, "utf8");
    expect(scheduler.records("good")[0]!.version).toBe(servedVersion);

    for (const name of ["throws", "hangs", "hog", "shot", "spawner", "junk", "garbage"]) scheduler.trigger(name);
    // Kill one run from outside, as an operator or the kernel's OOM killer would.
    const shot = await waitFor(() => logs.find((l) => l.event === "run-started" && l.dataset === "shot"));
    await waitFor(() => logs.some((l) => l.event === "child-output" && l.dataset === "shot"));
    process.kill(shot.pid as number, "SIGKILL");
    await scheduler.idle();

    const outcome = (name: string) => scheduler.records(name).at(-1)!;
    expect(outcome("throws").outcome).toBe("failed");
    expect(outcome("throws").reason).toContain("Error: boom: the source file is malformed");
    expect(outcome("hangs").outcome).toBe("timed-out");
    expect(outcome("hangs").duration_ms).toBeGreaterThanOrEqual(1000 + 300 - 50);
    expect(outcome("hog").outcome).toBe("memory-killed");
    expect(outcome("hog").peak_rss_bytes).toBeGreaterThan(256 * MIB);
    expect(outcome("shot").outcome).toBe("failed");
    expect(outcome("shot").reason).toContain("killed by SIGKILL");
    expect(outcome("spawner").outcome).toBe("timed-out");
    expect(outcome("junk").outcome).toBe("failed");
    expect(outcome("junk").reason).toContain("killed by SIGKILL");
    expect(outcome("garbage").outcome).toBe("failed");
    expect(outcome("garbage").reason).toContain("invalid result message");
    expect(outcome("garbage").reason!.length).toBeLessThanOrEqual(500);
    for (const { record } of finished) expect(record.peak_rss_bytes).toBeGreaterThan(0);

    // Nothing left on disk.
    expect(await fs.readdir(tempRoot)).toEqual([]);

    // No process left: every child, every group, and both grandchildren (one escaped the group).
    const grandchildren = logs
      .filter((l) => l.event === "child-output" && l.dataset === "spawner" && String(l.line).startsWith("grandchild "))
      .map((l) => Number(String(l.line).split(" ")[1]));
    expect(grandchildren).toHaveLength(2);
    for (const pid of grandchildren) expect(isAlive(pid)).toBe(false);
    for (const { details } of finished) {
      for (const p of details.processes) expect(isAlive(p.pid, p.startTime)).toBe(false);
      if (details.pid) expect(groupMembers(details.pid)).toEqual([]);
    }
    expect(finished.find((f) => f.record.dataset === "spawner")!.details.processes.length).toBeGreaterThanOrEqual(3);

    // The served version is unchanged; the scheduler is alive and its output capped.
    expect(await fs.readFile(served, "utf8")).toBe(servedVersion);
    const health = await fetch(`http://127.0.0.1:${scheduler.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", running: 0 });
    const garbageLines = logs.filter((l) => l.event === "child-output" && l.dataset === "garbage");
    expect(garbageLines.length).toBeLessThanOrEqual(100);
    for (const line of garbageLines) expect(String(line.line).length).toBeLessThanOrEqual(2000);
    const metrics = await (await fetch(`http://127.0.0.1:${scheduler.port}/metrics`)).text();
    expect(metrics).toContain('edgesnap_runs_total{dataset="hog",outcome="memory-killed"} 1');
    expect(metrics).toContain('edgesnap_memory_kills_total{dataset="hog"} 1');
    expect(metrics).toContain('edgesnap_runs_total{dataset="hangs",outcome="timed-out"} 1');
    expect(metrics).toMatch(/^edgesnap_temp_root_bytes 0$/m);
    await fs.rm(path.dirname(served), { recursive: true, force: true });
  });

  it("records a child that blows its V8 heap cap as memory-killed", async () => {
    current = await startTestScheduler([{ name: "heap", schedule: NEVER, fixture: "heap-hog", limits: { memoryBytes: 512 * MIB } }]);
    current.scheduler.trigger("heap");
    await current.scheduler.idle();
    const record = current.scheduler.records("heap")[0]!;
    expect(record.outcome).toBe("memory-killed");
    expect(record.reason).toContain("--max-old-space-size=384");
  });
});

describe("the real run child", () => {
  it("speaks the same result contract: an unknown dataset comes back as failed with the child's own reason", async () => {
    const tempRoot = await fs.mkdtemp(path.join((await import("node:os")).tmpdir(), "edgesnap-real-child-"));
    const logs: unknown[] = [];
    const scheduler = await startScheduler({
      config: { tempRoot, metricsPort: 0, concurrency: 1, timezone: "UTC" },
      datasets: [{ name: "no-such-dataset", schedule: NEVER }],
      log: (entry) => logs.push(entry),
      retries: 0,
    });
    try {
      scheduler.trigger("no-such-dataset");
      await scheduler.idle();
      const record = scheduler.records("no-such-dataset")[0]!;
      expect(record.outcome).toBe("failed");
      expect(record.reason).toMatch(/no-such-dataset/);
      expect(record.reason).not.toMatch(/without a result|invalid result/);
      expect(await fs.readdir(tempRoot)).toEqual([]);
    } finally {
      await scheduler.stop({ graceMs: 0 });
      await fs.rm(tempRoot, { recursive: true, force: true });
    }
  });
});

describe("scheduling", () => {
  it("coalesces triggers during a run into one follow-up run", async () => {
    current = await startTestScheduler([{ name: "slow", schedule: NEVER, fixture: "slow-ok" }], {
      env: { FIXTURE_DELAY_MS: "800" },
    });
    const { scheduler } = current;
    const results = [1, 2, 3, 4, 5].map(() => scheduler.trigger("slow"));
    expect(results).toEqual(["started", "queued", "coalesced", "coalesced", "coalesced"]);
    await scheduler.idle();
    const records = scheduler.records("slow");
    expect(records.map((r) => r.outcome)).toEqual(["ok", "ok"]);
    expect(Date.parse(records[1]!.started_at)).toBeGreaterThanOrEqual(Date.parse(records[0]!.finished_at));
    const metrics = await (await fetch(`http://127.0.0.1:${scheduler.port}/metrics`)).text();
    expect(metrics).toContain('edgesnap_triggers_coalesced_total{dataset="slow"} 3');
  });

  it("hands a forced trigger to the child, also when it is coalesced into a pending run", async () => {
    current = await startTestScheduler([{ name: "forced", schedule: NEVER, fixture: "echo-force" }], {
      env: { FIXTURE_DELAY_MS: "500" },
    });
    const { scheduler } = current;
    expect(scheduler.trigger("forced")).toBe("started");
    expect(scheduler.trigger("forced")).toBe("queued");
    expect(scheduler.trigger("forced", "rebuild-request", "req-1", { force: true })).toBe("coalesced");
    await scheduler.idle();
    const records = scheduler.records("forced");
    expect(records.map((r) => r.reason)).toEqual(["force=", "force=1"]);
    expect(records[1]!.request_id).toBe("req-1");
  });

  it("never runs more children at once than the concurrency limit", async () => {
    current = await startTestScheduler(
      ["a", "b", "c"].map((name) => ({ name, schedule: NEVER, fixture: "slow-ok" })),
      { config: { tempRoot: "", metricsPort: 0, concurrency: 1, timezone: "UTC" }, env: { FIXTURE_DELAY_MS: "200" } },
    );
    const { scheduler } = current;
    expect(["a", "b", "c"].map((name) => scheduler.trigger(name))).toEqual(["started", "queued", "queued"]);
    await scheduler.idle();
    const runs = ["a", "b", "c"]
      .map((name) => scheduler.records(name)[0]!)
      .sort((x, y) => Date.parse(x.started_at) - Date.parse(y.started_at));
    expect(runs.map((r) => r.dataset)).toEqual(["a", "b", "c"]);
    for (let i = 1; i < runs.length; i++) {
      expect(Date.parse(runs[i]!.started_at)).toBeGreaterThanOrEqual(Date.parse(runs[i - 1]!.finished_at));
    }
  });

  it("retries a failed run a bounded number of times with growing backoff, then stops", async () => {
    current = await startTestScheduler([{ name: "flaky", schedule: NEVER, fixture: "throws" }], {
      retries: 2,
      retryBackoffMs: 100,
    });
    current.scheduler.trigger("flaky", "schedule");
    await current.scheduler.idle();
    const records = current.scheduler.records("flaky");
    expect(records.map((r) => [r.trigger, r.attempt, r.outcome])).toEqual([
      ["schedule", 1, "failed"],
      ["retry", 2, "failed"],
      ["retry", 3, "failed"],
    ]);
    const gap = (i: number) => Date.parse(records[i]!.started_at) - Date.parse(records[i - 1]!.finished_at);
    expect(gap(1)).toBeGreaterThanOrEqual(90);
    expect(gap(2)).toBeGreaterThanOrEqual(190);
  });

  it("lets a fresh trigger replace a pending retry: the retry's timer is cancelled and the new run is attempt 1", async () => {
    // A backoff far longer than any test: idle() can only resolve this soon if the retry was cancelled.
    current = await startTestScheduler([{ name: "flaky", schedule: NEVER, fixture: "fail-unless-forced" }], { retries: 2, retryBackoffMs: 3_600_000 });
    const { scheduler, logs } = current;
    scheduler.trigger("flaky", "schedule");
    await waitFor(() => logs.some((l) => l.event === "retry-scheduled"));
    expect(scheduler.trigger("flaky", "rebuild-request", "req-1", { force: true })).toBe("started");
    await scheduler.idle();
    expect(scheduler.records("flaky").map((r) => [r.trigger, r.attempt, r.outcome, r.request_ids])).toEqual([
      ["schedule", 1, "failed", []],
      ["rebuild-request", 1, "ok", ["req-1"]],
    ]);
  });

  it("lists every request coalesced into one run on its record, the first also as request_id", async () => {
    current = await startTestScheduler([{ name: "slow", schedule: NEVER, fixture: "slow-ok" }], { env: { FIXTURE_DELAY_MS: "500" } });
    const { scheduler } = current;
    expect(scheduler.trigger("slow", "schedule")).toBe("started");
    expect(scheduler.trigger("slow", "rebuild-request", "req-1")).toBe("queued");
    expect(scheduler.trigger("slow", "rebuild-request", "req-2")).toBe("coalesced");
    expect(scheduler.trigger("slow", "schedule")).toBe("coalesced");
    await scheduler.idle();
    expect(scheduler.records("slow").map((r) => [r.trigger, r.request_id, r.request_ids])).toEqual([
      ["schedule", null, []],
      ["rebuild-request", "req-1", ["req-1", "req-2"]],
    ]);
  });

  it("records a dataset whose module failed to load as a failed run, refuses its triggers with the reason, and runs the others", async () => {
    const reason = "dataset module test/broken.ts failed to load: Error: boom";
    current = await startTestScheduler([{ name: "fine", schedule: NEVER, fixture: "slow-ok" }], {
      unloadable: [{ name: "broken", reason }],
      env: { FIXTURE_DELAY_MS: "10" },
    });
    const { scheduler, logs } = current;
    expect(scheduler.records("broken")).toMatchObject([{ dataset: "broken", outcome: "failed", reason, will_retry: false, trigger: "startup" }]);
    expect(logs.some((l) => l.event === "dataset-unloadable" && l.dataset === "broken" && l.level === "error")).toBe(true);
    expect(() => scheduler.trigger("broken")).toThrow(reason);
    expect(scheduler.trigger("fine")).toBe("started");
    await scheduler.idle();
    expect(scheduler.records("fine")[0]!.outcome).toBe("ok");
  });

  it("says on each record whether a retry follows, so only the last failure of a run is final", async () => {
    current = await startTestScheduler(
      [
        { name: "flaky", schedule: NEVER, fixture: "throws" },
        { name: "fine", schedule: NEVER, fixture: "slow-ok" },
      ],
      { retries: 2, retryBackoffMs: 50, env: { FIXTURE_DELAY_MS: "10" } },
    );
    current.scheduler.trigger("flaky", "schedule");
    current.scheduler.trigger("fine", "schedule");
    await current.scheduler.idle();
    expect(current.scheduler.records("flaky").map((r) => [r.attempt, r.outcome, r.will_retry])).toEqual([
      [1, "failed", true],
      [2, "failed", true],
      [3, "failed", false],
    ]);
    expect(current.scheduler.records("fine").map((r) => [r.outcome, r.will_retry])).toEqual([["ok", false]]);
  });

  it("fires runs from the cron schedule", async () => {
    current = await startTestScheduler([{ name: "tick", schedule: "* * * * * *", fixture: "slow-ok" }], {
      env: { FIXTURE_DELAY_MS: "50" },
    });
    await waitFor(() => current!.scheduler.records("tick").length >= 2, 8000);
    expect(current.scheduler.records("tick").every((r) => r.trigger === "schedule" && r.outcome === "ok")).toBe(true);
  });

  it("sweeps the run dirs a crashed scheduler left behind when it starts, and says so", async () => {
    const tempRoot = await fs.mkdtemp(path.join(os.tmpdir(), "edgesnap-crashed-"));
    // Named after an owner that is gone: this process's pid with another start time.
    const leftover = `run-${process.pid}-1-leftover-AbC123`;
    await fs.mkdir(path.join(tempRoot, leftover, "scratch"), { recursive: true });
    await fs.writeFile(path.join(tempRoot, leftover, "scratch", "big.parquet"), "x".repeat(4096));
    const logs: { event: string }[] = [];
    const scheduler = await startScheduler({
      config: { tempRoot, metricsPort: 0, concurrency: 1, timezone: "UTC" },
      datasets: [],
      log: (entry) => logs.push(entry),
    });
    try {
      expect(await fs.readdir(tempRoot)).toEqual([]);
      expect(logs.map((l) => l.event)).toContain("temp-root-swept");
    } finally {
      await scheduler.stop({ graceMs: 0 });
      await fs.rm(tempRoot, { recursive: true, force: true });
    }
  });

  it("refuses a bad schedule, a bad timezone, a bad name and an unknown dataset", async () => {
    const config = { tempRoot: "/nonexistent", metricsPort: 0, concurrency: 1, timezone: "UTC" };
    await expect(startScheduler({ config, datasets: [{ name: "x", schedule: "not cron" }] })).rejects.toThrow(/invalid schedule/);
    await expect(startScheduler({ config: { ...config, timezone: "Mars/Olympus" }, datasets: [] })).rejects.toThrow(/timezone/);
    await expect(startScheduler({ config, datasets: [{ name: "Bad_Name", schedule: NEVER }] })).rejects.toThrow(EdgesnapError);
    current = await startTestScheduler([{ name: "one", schedule: NEVER, fixture: "slow-ok" }]);
    expect(() => current!.scheduler.trigger("two")).toThrow(/unknown dataset/);
  });
});
