/** @jsxImportSource hono/jsx */
/**
 * The heartbeat chart of a dataset's runs: one bar per run for its duration (coloured by outcome)
 * and a line for its peak memory, oldest on the left. The chart has room for at least MIN_SLOTS
 * runs and grows no bar wider than one slot, so one run is one narrow bar at the right end (not a
 * block across the chart) and 200 runs are 200 thin bars; both scales start at zero and are
 * labelled with their maximum, and each bar's tooltip has its exact figures.
 */
import type { FC } from "hono/jsx";
import type { RunRecord } from "../../contract/index.ts";
import { formatBytes, formatDuration } from "../../contract/format.ts";

/**
 * The chart's drawing box in viewBox units. The SVG is stretched to the width it is given at a fixed
 * height, so it holds no text (the scale and times are HTML around it) and its strokes do not scale.
 */
export const CHART = { width: 600, height: 100, top: 4, bottom: 1, side: 2 } as const;

/** The chart always has room for this many runs, so a few runs stay bars, not blocks. */
export const MIN_SLOTS = 30;

/** How much of its slot a bar fills. */
const BAR_FILL = 0.7;

export interface ChartBar {
  run: RunRecord;
  x: number;
  y: number;
  width: number;
  height: number;
  /** `ok`, `unchanged` or `failed` (every outcome that did not confirm the content). */
  tone: "ok" | "unchanged" | "failed";
}

export interface ChartLayout {
  bars: ChartBar[];
  /** The peak-memory points, oldest first (runs without a reading are left out). */
  memory: { x: number; y: number }[];
  maxDurationMs: number;
  maxRssBytes: number;
}

function toneOf(outcome: RunRecord["outcome"]): ChartBar["tone"] {
  if (outcome === "ok") return "ok";
  return outcome === "unchanged" ? "unchanged" : "failed";
}

/** Where each run's bar and memory point go; `runs` newest first, as the run listing gives them. */
export function layoutRunChart(runs: readonly RunRecord[]): ChartLayout {
  const ordered = [...runs].reverse();
  const plotWidth = CHART.width - 2 * CHART.side;
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  const baseline = CHART.height - CHART.bottom;
  const slots = Math.max(ordered.length, MIN_SLOTS);
  const slot = plotWidth / slots;
  const first = slots - ordered.length;
  const maxDurationMs = Math.max(1, ...ordered.map((r) => r.duration_ms));
  const maxRssBytes = Math.max(1, ...ordered.map((r) => r.peak_rss_bytes ?? 0));
  const bars = ordered.map((run, i): ChartBar => {
    const height = Math.max(1, (run.duration_ms / maxDurationMs) * plotHeight);
    const width = Math.max(1, slot * BAR_FILL);
    return { run, x: CHART.side + slot * (first + i) + (slot - width) / 2, y: baseline - height, width, height, tone: toneOf(run.outcome) };
  });
  const memory = ordered.flatMap((run, i) =>
    run.peak_rss_bytes === null ? [] : [{ x: CHART.side + slot * (first + i + 0.5), y: baseline - (run.peak_rss_bytes / maxRssBytes) * plotHeight }],
  );
  return { bars, memory, maxDurationMs, maxRssBytes };
}

/** A run's start time, short: `12-01 10:04Z`. */
function shortTime(iso: string): string {
  return `${iso.slice(5, 10)} ${iso.slice(11, 16)}Z`;
}

const round = (value: number) => value.toFixed(2);

export const RunChart: FC<{ runs: readonly RunRecord[] }> = ({ runs }) => {
  const layout = layoutRunChart(runs);
  const { bars, memory } = layout;
  const baseline = CHART.height - CHART.bottom;
  const oldest = bars[0];
  const newest = bars.at(-1);
  const count = `${bars.length} run${bars.length === 1 ? "" : "s"}`;
  return (
    <figure class="chart" data-runs={String(bars.length)}>
      <div class="chart-scale">
        <span>{`duration, max ${formatDuration(layout.maxDurationMs)}`}</span>
        <span class="legend-mem">{`peak memory, max ${formatBytes(layout.maxRssBytes)}`}</span>
      </div>
      <svg
        viewBox={`0 0 ${CHART.width} ${CHART.height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`duration (bars, max ${formatDuration(layout.maxDurationMs)}) and peak memory (line, max ${formatBytes(layout.maxRssBytes)}) of the last ${count}`}
      >
        <line class="axis" x1={CHART.side} x2={CHART.width - CHART.side} y1={baseline} y2={baseline} vector-effect="non-scaling-stroke" />
        {bars.map((bar) => (
          <rect
            class={`bar bar-${bar.tone}`}
            data-run={bar.run.id}
            data-outcome={bar.run.outcome}
            data-duration-ms={String(bar.run.duration_ms)}
            x={round(bar.x)}
            y={round(bar.y)}
            width={round(bar.width)}
            height={round(bar.height)}
          >
            <title>{`${bar.run.started_at.replace("T", " ").replace(/\.\d+Z$/, "Z")} ${bar.run.outcome}: ${formatDuration(bar.run.duration_ms)}, peak ${formatBytes(bar.run.peak_rss_bytes)}`}</title>
          </rect>
        ))}
        {memory.length > 1 ? <polyline class="mem" points={memory.map((p) => `${round(p.x)},${round(p.y)}`).join(" ")} vector-effect="non-scaling-stroke" /> : null}
        {/* One reading is a dot: a line of no length with round caps, a fixed size however the chart stretches. */}
        {memory.length === 1 ? <line class="mem-dot" x1={round(memory[0]!.x)} x2={round(memory[0]!.x)} y1={round(memory[0]!.y)} y2={round(memory[0]!.y)} vector-effect="non-scaling-stroke" /> : null}
      </svg>
      <div class="chart-times">
        <span>{oldest && oldest !== newest ? shortTime(oldest.run.started_at) : ""}</span>
        <span>{newest ? shortTime(newest.run.started_at) : ""}</span>
      </div>
      <figcaption>
        {`last ${count}, oldest left: duration as bars (green ok, gray unchanged, red failed), `}
        <span class="legend-mem">peak memory as the line</span>
      </figcaption>
    </figure>
  );
};
