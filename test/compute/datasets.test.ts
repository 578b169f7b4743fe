/** The bundled example datasets, built with real nodejs-polars on the real vega-datasets files. */
import pl from "nodejs-polars";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatasetDefinition, LazyDataFrame } from "../../compute/dataset/define.ts";
import { createSources } from "../../compute/dataset/sources.ts";
import airportDelays from "../../compute/examples/airport-delays.ts";
import busiestRoutes from "../../compute/examples/busiest-routes.ts";
import dailyDelays from "../../compute/examples/daily-delays.ts";
import { checkGates } from "../../compute/run/gates.ts";
import { makeTempDir, memoryLogger, serializeFrame, type SerializedFrame } from "./helpers.ts";

let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  temp = await makeTempDir("datasets");
});
afterAll(() => temp.remove());

/** Builds a dataset and serializes it the way a run does; checks its gates on the way. */
async function build(definition: DatasetDefinition): Promise<SerializedFrame> {
  const signal = new AbortController().signal;
  const ctx = { pl, tempDir: temp.dir, log: memoryLogger().log, previous: null, sources: createSources({ pl, tempDir: temp.dir, signal }), signal };
  const result = (await definition.build(ctx)) as LazyDataFrame | pl.DataFrame;
  const serialized = await serializeFrame(result, definition.key === null ? {} : { key: definition.key });
  checkGates(serialized.facts, definition, []);
  return serialized;
}

type Row = Record<string, unknown>;
const rowsOf = (serialized: SerializedFrame) => JSON.parse(serialized.body) as Row[];

describe("airport-delays", () => {
  it("has one row per origin airport, keyed by IATA code, with plausible delays for ORD and ATL", async () => {
    const rows = rowsOf(await build(airportDelays));
    expect(rows.length).toBeGreaterThan(200);
    expect(new Set(rows.map((r) => r.iata)).size).toBe(rows.length);
    const ord = rows.find((r) => r.iata === "ORD")!;
    const atl = rows.find((r) => r.iata === "ATL")!;
    expect(ord).toMatchObject({ city: "Chicago", state: "IL" });
    expect(ord.name).toMatch(/O'Hare/);
    expect(atl).toMatchObject({ city: "Atlanta", state: "GA" });
    for (const airport of [ord, atl]) {
      expect(airport.flights as number).toBeGreaterThan(100_000);
      expect(airport.mean_delay_min as number).toBeGreaterThan(0);
      expect(airport.mean_delay_min as number).toBeLessThan(30);
      expect(airport.p95_delay_min as number).toBeGreaterThan(airport.median_delay_min as number);
      expect(airport.share_delayed_15 as number).toBeGreaterThan(0.05);
      expect(airport.share_delayed_15 as number).toBeLessThan(0.5);
    }
    // Busiest first: ORD tops 2001's first half.
    expect(rows[0]!.iata).toBe("ORD");
    const total = rows.reduce((sum, r) => sum + (r.flights as number), 0);
    expect(total).toBe(3_000_000);
  });

  it("builds byte-identical bodies twice in a row (so an unchanged source publishes nothing)", async () => {
    const first = (await build(airportDelays)).plan.hash;
    const second = (await build(airportDelays)).plan.hash;
    expect(second).toBe(first);
  });
});

describe("busiest-routes", () => {
  it("lists thousands of distinct routes, busiest first, with counts, delays and distances", async () => {
    const rows = rowsOf(await build(busiestRoutes));
    expect(rows.length).toBeGreaterThan(2000);
    expect(new Set(rows.map((r) => r.route)).size).toBe(rows.length);
    for (const [index, row] of rows.slice(0, 50).entries()) {
      expect(row.route).toBe(`${row.origin}-${row.destination}`);
      if (index > 0) expect(row.flights as number).toBeLessThanOrEqual(rows[index - 1]!.flights as number);
    }
    const laxSfo = rows.find((r) => r.route === "LAX-SFO")!;
    expect(laxSfo.distance_miles as number).toBeGreaterThan(300);
    expect(laxSfo.distance_miles as number).toBeLessThan(400);
    expect(laxSfo.flights as number).toBeGreaterThan(1000);
  });
});

describe("daily-delays", () => {
  it("has one row per day of 2001's first half, dates as YYYY-MM-DD in order", async () => {
    const rows = rowsOf(await build(dailyDelays));
    expect(rows.length).toBeGreaterThanOrEqual(181);
    expect(rows[0]).toMatchObject({ date: "2001-01-01" });
    expect(rows.every((r) => /^\d{4}-\d{2}-\d{2}$/.test(r.date as string))).toBe(true);
    const dates = rows.map((r) => r.date as string);
    expect([...dates].sort()).toEqual(dates);
    const january15 = rows.find((r) => r.date === "2001-01-15")!;
    expect(january15.flights as number).toBeGreaterThan(10_000);
    expect(Math.abs(january15.mean_delay_min as number)).toBeLessThan(120);
  });
});
