/**
 * The heartbeat chart's layout, a pure function (edge/status-page/chart.tsx): one run is one narrow
 * bar at the right end, never a block across the chart; 200 runs are 200 bars in order that never
 * overlap; bar heights follow durations and the memory line follows peak memory, both from zero.
 * (How Chromium draws it is checked in test/browser/status-page.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { CHART, layoutRunChart, MIN_SLOTS } from "../../edge/status-page/chart.tsx";
import { runRecord } from "./publish-fixture.ts";

const PLOT_WIDTH = CHART.width - 2 * CHART.side;

/** `count` runs, newest first as the listing gives them, with durations and memory that vary. */
function runs(count: number) {
  return Array.from({ length: count }, (_, i) =>
    runRecord("chart", { duration_ms: 100 + ((i * 7) % 10) * 50, peak_rss_bytes: (100 + (i % 5) * 10) * 1024 * 1024, outcome: i % 9 === 4 ? "failed" : "ok" }, new Date(Date.UTC(2026, 11, 1) - i * 60_000)),
  );
}

describe("run chart layout", () => {
  it("draws one run as one narrow bar at the right end, with a memory dot", () => {
    const { bars, memory } = layoutRunChart(runs(1));
    expect(bars).toHaveLength(1);
    expect(bars[0]!.width).toBeLessThanOrEqual(PLOT_WIDTH / MIN_SLOTS);
    expect(bars[0]!.x + bars[0]!.width).toBeGreaterThan(CHART.width - CHART.side - PLOT_WIDTH / MIN_SLOTS);
    expect(memory).toHaveLength(1);
  });

  it.each([2, 30, 50, 200])("draws %i runs as that many bars, oldest on the left, none overlapping, heights following durations", (count) => {
    const input = runs(count);
    const { bars, memory, maxDurationMs } = layoutRunChart(input);
    expect(bars.map((b) => b.run.id)).toEqual([...input].reverse().map((r) => r.id));
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.x).toBeGreaterThanOrEqual(bars[i - 1]!.x + bars[i - 1]!.width);
    expect(bars[0]!.x).toBeGreaterThanOrEqual(CHART.side);
    expect(bars.at(-1)!.x + bars.at(-1)!.width).toBeLessThanOrEqual(CHART.width - CHART.side);
    const plotHeight = CHART.height - CHART.top - CHART.bottom;
    for (const bar of bars) expect(bar.height).toBeCloseTo(Math.max(1, (bar.run.duration_ms / maxDurationMs) * plotHeight), 6);
    expect(bars.filter((b) => b.tone === "failed").length).toBe(input.filter((r) => r.outcome === "failed").length);
    expect(memory).toHaveLength(count);
    // The tallest memory point is the largest peak, at the top of the plot.
    expect(Math.min(...memory.map((p) => p.y))).toBeCloseTo(CHART.top, 6);
  });

  it("leaves runs without a memory reading out of the line, and still draws their bars", () => {
    const input = runs(3).map((r, i) => (i === 1 ? { ...r, peak_rss_bytes: null } : r));
    const { bars, memory } = layoutRunChart(input);
    expect(bars).toHaveLength(3);
    expect(memory).toHaveLength(2);
  });
});
