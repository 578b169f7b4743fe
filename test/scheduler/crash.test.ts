/**
 * What survives a crash, and what must not: the start-up sweep removes only run dirs whose owner is
 * gone (never a live run's, e.g. another scheduler's sharing the temp root), and a run's
 * double-forked grandchild dies with the run where runs get their own cgroup.
 */
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { createRunCgroup } from "../../compute/scheduler/cgroup.ts";
import { startScheduler } from "../../compute/scheduler/index.ts";
import { selfProcStat } from "../../compute/scheduler/proc.ts";
import { FIXTURES, NEVER, isAlive, startTestScheduler, waitFor, type TestScheduler } from "./helpers.ts";

let current: TestScheduler | null = null;
afterEach(async () => {
  await current?.cleanup();
  current = null;
});

/** True where this process may make cgroups for its runs (cgroup v2 with cgroup.kill, write access). */
function cgroupsAvailable(): boolean {
  const probe = createRunCgroup(`run-${process.pid}-${selfProcStat().startTime}-probe-AAAAAA`);
  probe?.remove();
  return probe !== null;
}

describe("the start-up sweep", () => {
  it("leaves the run dir of another scheduler's live run alone and removes those of dead owners", async () => {
    const tempRoot = await fs.mkdtemp(path.join(os.tmpdir(), "edgesnap-shared-root-"));
    const other = spawn(process.execPath, [path.join(FIXTURES, "scheduler-main.ts")], {
      env: { ...process.env, SCHED_TEMP_ROOT: tempRoot, SCHED_FIXTURE: "hang", SCHED_SHUTDOWN_GRACE_MS: "0" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const events: string[] = [];
    readline.createInterface({ input: other.stdout! }).on("line", (line) => events.push((JSON.parse(line) as { event: string }).event));
    const exited = new Promise((resolve) => other.once("exit", resolve));
    try {
      await waitFor(() => events.includes("child-output"), 30_000);
      const [live] = await fs.readdir(tempRoot);
      expect(live).toMatch(new RegExp(`^run-${other.pid}-\\d+-main-`));
      // Same pid as this process but another start time: a reused pid, its owner long gone.
      const dead = `run-${process.pid}-1-crashed-AbC123`;
      await fs.mkdir(path.join(tempRoot, dead, "scratch"), { recursive: true });

      const scheduler = await startScheduler({ config: { tempRoot, metricsPort: 0, concurrency: 1, timezone: "UTC" }, datasets: [], log: () => {} });
      await scheduler.stop({ graceMs: 0 });
      expect(await fs.readdir(tempRoot)).toEqual([live]);
    } finally {
      other.kill("SIGTERM");
      await exited;
      await fs.rm(tempRoot, { recursive: true, force: true });
    }
  });
});

describe.runIf(cgroupsAvailable())("a run in its own cgroup", () => {
  it("takes down a double-forked grandchild that left the run's process group and process tree", async () => {
    current = await startTestScheduler([{ name: "forker", schedule: NEVER, fixture: "double-fork", limits: { timeoutMs: 2000 } }]);
    current.scheduler.trigger("forker");
    const line = await waitFor(() => current!.logs.find((l) => l.event === "child-output" && String(l.line).startsWith("escaped ")), 30_000);
    const escaped = Number(String(line.line).split(" ")[1]);
    expect(isAlive(escaped)).toBe(true);
    await current.scheduler.idle();
    expect(current.scheduler.records("forker")[0]!.outcome).toBe("timed-out");
    expect(isAlive(escaped)).toBe(false);
    expect(current.finished[0]!.details.processes.map((p) => p.pid)).toContain(escaped);
  });
});
