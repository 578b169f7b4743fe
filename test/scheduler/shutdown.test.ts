import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { describe, expect, it } from "vitest";
import { FIXTURES, groupMembers, isAlive, waitFor } from "./helpers.ts";

interface Line {
  event: string;
  [field: string]: unknown;
}

/** Starts the scheduler script, sends `signal` once its run has started, and collects what happens. */
async function signalDuringRun(fixture: string, signal: NodeJS.Signals, env: Record<string, string> = {}) {
  const tempRoot = await fs.mkdtemp(path.join(os.tmpdir(), "edgesnap-shutdown-"));
  try {
    const proc = spawn(process.execPath, [path.join(FIXTURES, "scheduler-main.ts")], {
      env: { ...process.env, SCHED_TEMP_ROOT: tempRoot, SCHED_FIXTURE: fixture, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines: Line[] = [];
    readline.createInterface({ input: proc.stdout }).on("line", (line) => lines.push(JSON.parse(line) as Line));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once("exit", (code, sig) => resolve({ code, signal: sig })),
    );
    try {
      const started = await waitFor(() => lines.find((l) => l.event === "run-started"));
      // The child printed something: a plain line, or a log entry merged into the scheduler's log.
      await waitFor(() => lines.some((l) => l.event === "child-output" || (l.run === started.run && l.event !== "run-started")));
      const sentAt = Date.now();
      proc.kill(signal);
      const exit = await exited;
      return { exit, lines, childPid: started.pid as number, tookMs: Date.now() - sentAt, leftover: await fs.readdir(tempRoot) };
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
  } finally {
    await fs.rm(tempRoot, { recursive: true, force: true });
  }
}

describe("scheduler shutdown", () => {
  it("on SIGTERM lets the running child finish, then exits 0 with nothing left behind", async () => {
    const { exit, lines, childPid, leftover } = await signalDuringRun("slow-ok", "SIGTERM", { FIXTURE_DELAY_MS: "1500" });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(lines.find((l) => l.event === "run-finished")).toMatchObject({ outcome: "ok" });
    expect(lines.at(-1)!.event).toBe("scheduler-stopped");
    expect(isAlive(childPid)).toBe(false);
    expect(groupMembers(childPid)).toEqual([]);
    expect(leftover).toEqual([]);
  });

  it("on SIGINT stops a child that outlives the grace period, then exits 0 with no orphan", async () => {
    const { exit, lines, childPid, tookMs, leftover } = await signalDuringRun("grandchild", "SIGINT", {
      SCHED_SHUTDOWN_GRACE_MS: "500",
    });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(lines.find((l) => l.event === "run-finished")).toMatchObject({ outcome: "cancelled" });
    // Grace 500 ms, then SIGTERM, then 300 ms to SIGKILL: well under the 90 s run timeout.
    expect(tookMs).toBeLessThan(5000);
    const grandchildren = lines
      .filter((l) => l.event === "child-output" && String(l.line).startsWith("grandchild "))
      .map((l) => Number(String(l.line).split(" ")[1]));
    expect(grandchildren).toHaveLength(2);
    for (const pid of [childPid, ...grandchildren]) expect(isAlive(pid)).toBe(false);
    expect(groupMembers(childPid)).toEqual([]);
    expect(leftover).toEqual([]);
  });
});
