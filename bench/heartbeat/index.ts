/**
 * The heartbeat benchmark: the scheduler runs a real polars build N times, one fresh child per
 * run, while the anti-pattern it replaces (one long-lived process doing the same build in a loop)
 * then runs N iterations (after it, so the two do not compete for CPUs; the chart overlays both
 * from their own start). Prints the scheduler's RSS at start and end and its slope, each
 * child's peak RSS, the spawn overhead, the anti-pattern's RSS, and draws all of it over time to
 * bench/out/heartbeat.svg: a heartbeat, not a staircase.
 *
 *   node bench/heartbeat/index.ts [--runs 200] [--interval-ms 100] [--anti-mode timer|sync]
 */
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { startScheduler, type RunDetails } from "../../compute/scheduler/index.ts";
import { findRunProcesses, readRssBytes } from "../../compute/scheduler/proc.ts";
import type { RunRecord } from "../../contract/run-record.ts";
import { renderHeartbeatSvg, type Series } from "./chart.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "200" },
    "interval-ms": { type: "string", default: "100" },
    "anti-mode": { type: "string", default: "timer" },
    "anti-max-rss-mb": { type: "string", default: "6144" },
    out: { type: "string", default: "bench/out" },
  },
});
const runs = Number(values.runs);
const intervalMs = Number(values["interval-ms"]);
const repoRoot = path.resolve(import.meta.dirname, "../..");
const MB = 1024 * 1024;

const tempRoot = await fs.mkdtemp(path.join(os.tmpdir(), "edgesnap-heartbeat-"));
const finished: { record: RunRecord; details: RunDetails }[] = [];
let childPid: number | null = null;
const t0 = Date.now();
const seconds = () => (Date.now() - t0) / 1000;
const schedulerSeries: [number, number][] = [];
const withChildSeries: [number, number][] = [];
const antiSeries: [number, number][] = [];
const rssAfterRun: number[] = [];

const scheduler = await startScheduler({
  config: { tempRoot, metricsPort: 0, concurrency: 1, timezone: "UTC" },
  datasets: [{ name: "delays-by-origin", schedule: "5 4 1 1 *" }],
  childEntry: path.join(import.meta.dirname, "child.ts"),
  cwd: repoRoot,
  retries: 0,
  log: (entry) => {
    if (entry.event === "run-started") childPid = entry.pid as number;
  },
  onRunFinished: (record, details) => {
    childPid = null;
    finished.push({ record, details });
  },
});
const schedulerStartRss = process.memoryUsage.rss();

// Sample memory every 100 ms: the scheduler alone, and the scheduler plus its running child.
const sampler = setInterval(() => {
  const self = process.memoryUsage.rss();
  let child = 0;
  if (childPid !== null) for (const p of findRunProcesses(childPid, childPid)) child += readRssBytes(p.pid);
  schedulerSeries.push([seconds(), self / MB]);
  withChildSeries.push([seconds(), (self + child) / MB]);
}, 100);

try {
  for (let i = 0; i < runs; i++) {
    scheduler.trigger("delays-by-origin", "manual");
    await scheduler.idle();
    rssAfterRun.push(process.memoryUsage.rss());
    if ((i + 1) % 20 === 0) console.error(`scheduler: ${i + 1}/${runs} runs`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
} finally {
  clearInterval(sampler);
  await scheduler.stop();
  await fs.rm(tempRoot, { recursive: true, force: true });
}
const schedulerSeconds = seconds();

// Phase 2, on its own so the two do not compete for the CPUs: the anti-pattern.
const antiT0 = Date.now();
const anti = spawn(
  process.execPath,
  [
    path.join(import.meta.dirname, "anti-pattern.ts"),
    "--iterations", String(runs),
    "--interval-ms", String(intervalMs),
    "--mode", values["anti-mode"]!,
    "--max-rss-mb", values["anti-max-rss-mb"]!,
  ],
  { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
);
const antiLines: { t: number; rss: number; i: number; stopped?: string }[] = [];
readline.createInterface({ input: anti.stdout }).on("line", (line) => {
  const point = JSON.parse(line) as (typeof antiLines)[number];
  if (point.i % 20 === 0 && point.i > 0) console.error(`anti-pattern: ${point.i}/${runs} iterations, ${Math.round(point.rss / MB)} MB`);
  antiLines.push(point);
  antiSeries.push([(point.t - antiT0) / 1000, point.rss / MB]);
});
const antiDone = new Promise<void>((resolve) => anti.once("exit", () => resolve()));

try {
  await antiDone;
} finally {
  anti.kill();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** Least-squares slope of ys over 0..n-1. */
const slope = (ys: number[]) => {
  const n = ys.length;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return num / den;
};
const outcomes = finished.reduce<Record<string, number>>((acc, f) => ({ ...acc, [f.record.outcome]: (acc[f.record.outcome] ?? 0) + 1 }), {});
const peaks = finished.flatMap((f) => (f.record.peak_rss_bytes ? [f.record.peak_rss_bytes / MB] : []));
const spawnMs = finished.flatMap((f) => (f.details.spawnToFirstOutputMs === null ? [] : [f.details.spawnToFirstOutputMs]));
const durations = finished.map((f) => f.record.duration_ms);
const endRss = rssAfterRun.at(-1)!;
// The first runs initialise what the scheduler loads lazily (child_process and stream internals,
// zod's compiled parsers, JIT code): growth after them is what a leak would look like.
const warmIndex = Math.min(9, rssAfterRun.length - 1);
const warmRss = rssAfterRun[warmIndex]!;
const antiStart = antiLines[0]?.rss ?? NaN;
const antiEnd = antiLines.at(-1)?.rss ?? NaN;
const antiMax = Math.max(...antiLines.map((l) => l.rss));
const figures = {
  runs: finished.length,
  outcomes,
  scheduler_rss_start_mb: +(schedulerStartRss / MB).toFixed(1),
  scheduler_rss_end_mb: +(endRss / MB).toFixed(1),
  scheduler_rss_growth_mb: +((endRss - schedulerStartRss) / MB).toFixed(1),
  scheduler_rss_after_run_10_mb: +(warmRss / MB).toFixed(1),
  scheduler_rss_growth_after_run_10_mb: +((endRss - warmRss) / MB).toFixed(1),
  scheduler_rss_slope_mb_per_100_runs: +((slope(rssAfterRun) * 100) / MB).toFixed(2),
  child_peak_rss_median_mb: +median(peaks).toFixed(1),
  child_peak_rss_max_mb: +Math.max(...peaks).toFixed(1),
  spawn_to_first_output_median_ms: +median(spawnMs).toFixed(0),
  run_duration_median_ms: +median(durations).toFixed(0),
  anti_pattern_mode: values["anti-mode"],
  anti_pattern_iterations: antiLines.at(-1)?.i ?? 0,
  anti_pattern_rss_start_mb: +(antiStart / MB).toFixed(1),
  anti_pattern_rss_end_mb: +(antiEnd / MB).toFixed(1),
  anti_pattern_rss_max_mb: +(antiMax / MB).toFixed(1),
  anti_pattern_stopped: antiLines.at(-1)?.stopped ?? null,
  scheduler_phase_seconds: +schedulerSeconds.toFixed(1),
  anti_pattern_phase_seconds: +((Date.now() - antiT0) / 1000).toFixed(1),
  targets: {
    scheduler_growth_under_5_mb: (endRss - schedulerStartRss) / MB < 5,
    spawn_overhead_under_300_ms: median(spawnMs) < 300,
  },
};
console.log(JSON.stringify(figures, null, 2));

const series: Series[] = [
  { label: `anti-pattern: one long-lived process (${values["anti-mode"]} loop)`, color: "#d62728", points: antiSeries },
  { label: "scheduler + its running child (fresh process per run)", color: "#1f77b4", points: withChildSeries, thin: true },
  { label: "scheduler alone", color: "#2ca02c", points: schedulerSeries },
];
const outDir = path.resolve(repoRoot, values.out!);
await fs.mkdir(outDir, { recursive: true });
await fs.writeFile(
  path.join(outDir, "heartbeat.svg"),
  renderHeartbeatSvg(series, `Resident memory: ${finished.length} runs of a 3M-row polars build, fresh child per run vs one long-lived process`),
);
await fs.writeFile(path.join(outDir, "heartbeat.json"), `${JSON.stringify(figures, null, 2)}\n`);
await fs.writeFile(
  path.join(outDir, "heartbeat-series.json"),
  `${JSON.stringify({ scheduler_rss_after_each_run_mb: rssAfterRun.map((b) => +(b / MB).toFixed(2)), series })}\n`,
);
console.error(`wrote ${path.join(outDir, "heartbeat.svg")}, heartbeat.json and heartbeat-series.json`);
