import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { RUN_OUTCOMES, type RunRecord } from "../../contract/run-record.ts";
import { SchedulerMetrics, escapeLabel } from "../../compute/scheduler/metrics.ts";
import { findRunProcesses, parseProcStat, selfProcStat, type ProcStat } from "../../compute/scheduler/proc.ts";
import { RunRecordRing } from "../../compute/scheduler/records.ts";
import { createRunDir, measureDiskUsage, runDirOwner, sweepTempRoot } from "../../compute/scheduler/temp-root.ts";

const proc = (pid: number, ppid: number, pgrp: number, state = "S"): ProcStat => ({ pid, ppid, pgrp, state, startTime: pid * 10 });

function record(overrides: Partial<RunRecord>): RunRecord {
  return {
    id: "1",
    dataset: "a",
    trigger: "manual",
    request_id: null,
    request_ids: [],
    started_at: "2026-11-23T00:00:00.000Z",
    finished_at: "2026-11-23T00:00:01.000Z",
    outcome: "ok",
    reason: null,
    duration_ms: 1000,
    peak_rss_bytes: 100,
    rows: 1,
    bytes: 10,
    version: null,
    attempt: 1,
    ...overrides,
  };
}

describe("/proc parsing", () => {
  it("reads pid, ppid, group and start time even when the command name has spaces and parentheses", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i));
    fields[0] = "S"; // state
    fields[1] = "41"; // ppid
    fields[2] = "42"; // pgrp
    fields[19] = "777"; // starttime
    const stat = parseProcStat(`1234 (evil ) (name) ${fields.join(" ")}`);
    expect(stat).toEqual({ pid: 1234, ppid: 41, pgrp: 42, state: "S", startTime: 777 });
  });

  it("finds the group, every descendant (also one that left the group) and leaves out zombies and strangers", () => {
    const list = [
      proc(1, 0, 1),
      proc(100, 1, 100), // the run child, group leader
      proc(101, 100, 100), // grandchild in the group
      proc(102, 100, 102), // grandchild that called setsid
      proc(103, 102, 102), // its child
      proc(104, 1, 100), // orphan still in the group
      proc(105, 100, 100, "Z"), // zombie
      proc(200, 1, 200), // unrelated
    ];
    const found = findRunProcesses(100, 100, list).map((p) => p.pid).sort((a, b) => a - b);
    expect(found).toEqual([100, 101, 102, 103, 104]);
  });
});

describe("metrics", () => {
  it("renders runs by outcome, a cumulative duration histogram, memory kills and last success", () => {
    const metrics = new SchedulerMetrics();
    metrics.recordRun(record({ outcome: "ok", duration_ms: 400, bytes: 10 }));
    metrics.recordRun(record({ outcome: "memory-killed", duration_ms: 3000, bytes: null }));
    metrics.recordRun(record({ outcome: "ok", duration_ms: 400, bytes: 5 }));
    const text = metrics.render({ running: 1, waiting: 0, tempRootBytes: 4096 });
    expect(text).toContain('edgesnap_runs_total{dataset="a",outcome="ok"} 2');
    expect(text).toContain('edgesnap_runs_total{dataset="a",outcome="memory-killed"} 1');
    expect(text).toContain('edgesnap_run_duration_seconds_bucket{dataset="a",le="0.5"} 2');
    expect(text).toContain('edgesnap_run_duration_seconds_bucket{dataset="a",le="5"} 3');
    expect(text).toContain('edgesnap_run_duration_seconds_bucket{dataset="a",le="+Inf"} 3');
    expect(text).toContain('edgesnap_memory_kills_total{dataset="a"} 1');
    expect(text).toContain('edgesnap_published_bytes_total{dataset="a"} 15');
    expect(text).toContain('edgesnap_last_success_timestamp_seconds{dataset="a"} 1795392001');
    expect(text).toContain("edgesnap_temp_root_bytes 4096");
    expect(text).toMatch(/^# TYPE edgesnap_run_duration_seconds histogram$/m);
  });

  it("counts an unchanged run as a success for the last-success gauge, and a failure not", () => {
    const metrics = new SchedulerMetrics();
    metrics.recordRun(record({ outcome: "ok", finished_at: "2026-11-23T00:00:01.000Z" }));
    metrics.recordRun(record({ outcome: "unchanged", finished_at: "2026-11-23T01:00:01.000Z", bytes: 10 }));
    metrics.recordRun(record({ outcome: "failed", finished_at: "2026-11-23T02:00:01.000Z" }));
    const text = metrics.render({ running: 0, waiting: 0, tempRootBytes: 0 });
    expect(text).toContain(`edgesnap_last_success_timestamp_seconds{dataset="a"} ${Date.parse("2026-11-23T01:00:01.000Z") / 1000}`);
    // Only a publish adds published bytes.
    expect(text).toContain('edgesnap_published_bytes_total{dataset="a"} 10');
  });

  it("writes an exposition promtool accepts, whatever the label values", () => {
    const metrics = new SchedulerMetrics();
    for (const outcome of RUN_OUTCOMES) metrics.recordRun(record({ outcome, dataset: 'odd "name"\\with\nbreaks' }));
    metrics.recordCoalesced("a");
    metrics.recordRetry("a");
    const text = metrics.render({ running: 2, waiting: 1, tempRootBytes: 4096 });
    // promtool comes from Debian's prometheus package (.ci/run installs it).
    const checked = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(checked.error).toBeUndefined();
    const { status: code } = checked;
    const output = `${checked.stdout}${checked.stderr}`;
    expect({ code, output }).toEqual({ code: 0, output: "" });
  });

  it("escapes label values", () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});

describe("run record ring", () => {
  it("keeps only the newest records of each dataset", () => {
    const ring = new RunRecordRing(2);
    for (const id of ["1", "2", "3"]) ring.add(record({ id }));
    ring.add(record({ id: "x", dataset: "b" }));
    expect(ring.list("a").map((r) => r.id)).toEqual(["2", "3"]);
    expect(ring.list("b").map((r) => r.id)).toEqual(["x"]);
  });
});

describe("temp root", () => {
  it("sweeps run dirs whose owner is gone but nothing else, and measures what is on disk", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "edgesnap-sweep-"));
    try {
      const { pid, startTime } = selfProcStat();
      // This process's pid with another start time: the pid of a dead owner, since reused.
      const dead = `run-${pid}-${startTime + 1}-crashed-AbC123`;
      await fs.mkdir(path.join(root, dead, "deep"), { recursive: true });
      await fs.writeFile(path.join(root, dead, "deep", "junk"), Buffer.alloc(64 * 1024, 1));
      const live = path.basename(await createRunDir(root, "running"));
      expect(live).toMatch(new RegExp(`^run-${pid}-${startTime}-running-[A-Za-z0-9]{6}$`));
      expect(runDirOwner(live)).toEqual({ pid, startTime });
      await fs.writeFile(path.join(root, "keep.txt"), "mine");
      await fs.mkdir(path.join(root, "run-unknown-owner"));
      expect(await measureDiskUsage(root)).toBeGreaterThanOrEqual(64 * 1024);
      expect(await sweepTempRoot(root)).toEqual([dead]);
      expect((await fs.readdir(root)).sort()).toEqual(["keep.txt", live, "run-unknown-owner"].sort());
      expect(await measureDiskUsage(root)).toBeLessThan(64 * 1024);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
