/** Shared set-up for scheduler tests: a private temp root, a free port, fixture children, collected logs. */
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  startScheduler,
  type LogEntry,
  type RunDetails,
  type ScheduledDataset,
  type Scheduler,
  type SchedulerOptions,
} from "../../compute/scheduler/index.ts";
import type { RunRecord } from "../../contract/run-record.ts";
import { readProcStat } from "../../compute/scheduler/proc.ts";

export const FIXTURES = path.join(import.meta.dirname, "fixtures");

export interface TestScheduler {
  scheduler: Scheduler;
  tempRoot: string;
  logs: LogEntry[];
  finished: { record: RunRecord; details: RunDetails }[];
  cleanup(): Promise<void>;
}

/**
 * Starts a scheduler whose dataset `<name>` runs `fixtures/<fixtures[name]>.ts`.
 */
export async function startTestScheduler(
  datasets: (ScheduledDataset & { fixture: string })[],
  options: Partial<SchedulerOptions> = {},
): Promise<TestScheduler> {
  const tempRoot = await fsp.mkdtemp(path.join(os.tmpdir(), "edgesnap-sched-test-"));
  const logs: LogEntry[] = [];
  const finished: TestScheduler["finished"] = [];
  const fixtureOf = new Map(datasets.map((d) => [d.name, d.fixture]));
  const scheduler = await startScheduler({
    retries: 0,
    killGraceMs: 300,
    shutdownGraceMs: 2000,
    ...options,
    config: { tempRoot, metricsPort: 0, concurrency: options.config?.concurrency ?? 4, timezone: options.config?.timezone ?? "UTC" },
    datasets,
    childEntry: (name) => path.join(FIXTURES, `${fixtureOf.get(name)}.ts`),
    log: (entry) => logs.push(entry),
    onRunFinished: (record, details) => finished.push({ record, details }),
  });
  return {
    scheduler,
    tempRoot,
    logs,
    finished,
    async cleanup() {
      await scheduler.stop({ graceMs: 0 });
      await fsp.rm(tempRoot, { recursive: true, force: true });
    },
  };
}

/** A cron expression that never fires during a test (1 January, 04:05 UTC). */
export const NEVER = "5 4 1 1 *";

/**
 * True while the process exists and is not a zombie (and, given a start time, is that same process).
 * A killed grandchild is reparented to PID 1 and stays a zombie until PID 1 reaps it; this
 * machine's PID 1 does not (a container needs `--init`/tini, see compute/scheduler/index.ts), so a
 * zombie counts as gone: it runs nothing and holds no memory.
 */
export function isAlive(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (!stat || stat.state === "Z") return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Every live process whose group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== "Z") pids.push(stat.pid);
  }
  return pids;
}

export async function waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
