import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS, defineDataset, scheduleIntervalSeconds, type DatasetOptions } from "../../compute/dataset/define.ts";
import { loadScheduledDatasets } from "../../compute/cli/datasets.ts";
import { loadConfig } from "../../compute/config.ts";
import { findDataset, loadDatasets, loadRegistry } from "../../compute/dataset/registry.ts";
import { EdgesnapError } from "../../compute/errors.ts";

const run = promisify(execFile);
const build = () => {
  throw new Error("not built in these tests");
};

describe("defineDataset", () => {
  it("fills in default limits and gates", () => {
    const definition = defineDataset({ name: "ok-name", schedule: "*/5 * * * *", build });
    expect(definition.limits).toEqual({ timeoutMs: DEFAULT_TIMEOUT_MS, memoryBytes: DEFAULT_MEMORY_BYTES });
    expect(DEFAULT_TIMEOUT_MS).toBe(90_000);
    expect(DEFAULT_MEMORY_BYTES).toBe(1024 ** 3);
    expect(definition.gates).toEqual({ minRows: 1 });
    expect(definition.key).toBeNull();
  });

  it.each(["Bad", "-lead", "has_underscore", "", "a".repeat(65)])("rejects the malformed name %j with a config error", (name) => {
    const attempt = () => defineDataset({ name, schedule: "* * * * *", build });
    expect(attempt).toThrow(EdgesnapError);
    try {
      attempt();
    } catch (error) {
      expect((error as EdgesnapError).code).toBe("config");
      expect((error as EdgesnapError).exitCode).toBe(2);
    }
  });

  it("rejects an invalid cron schedule", () => {
    expect(() => defineDataset({ name: "x", schedule: "every five minutes", build })).toThrow(/invalid schedule/);
  });

  it("rejects nonsensical limits and gates", () => {
    expect(() => defineDataset({ name: "x", schedule: "* * * * *", limits: { timeoutMs: 0 }, build })).toThrow(/timeoutMs/);
    expect(() => defineDataset({ name: "x", schedule: "* * * * *", gates: { minRows: 10, maxRows: 5 }, build })).toThrow(/maxRows/);
    expect(() => defineDataset({ name: "x", schedule: "* * * * *", gates: { maxRowDropRatio: 2 }, build })).toThrow(/maxRowDropRatio/);
  });
});

describe("defineDataset's messages", () => {
  it("names every problem at once, one line each, in the dataset's own words", () => {
    let error: EdgesnapError | undefined;
    try {
      defineDataset({
        name: "x",
        schedule: "every five minutes",
        key: "",
        limits: { timeoutMs: 0, memoryBytes: 1.5 },
        gates: { minRows: 10, maxRows: 5, maxRowDropRatio: 2 },
        maxAgeSeconds: -1,
        formats: ["csv", "xlsx", "csv"] as never,
        build: "not a function" as never,
      });
    } catch (caught) {
      error = caught as EdgesnapError;
    }
    expect(error).toBeInstanceOf(EdgesnapError);
    expect(error!.code).toBe("config");
    const lines = error!.message.split("\n");
    expect(lines.every((line) => line.startsWith('dataset "x": '))).toBe(true);
    expect(lines.map((line) => line.slice('dataset "x": '.length).replace(/^(invalid schedule "every five minutes"): .*$/, "$1"))).toEqual([
      'invalid schedule "every five minutes"',
      "key must be a non-empty column name",
      "limits.timeoutMs must be a positive integer",
      "limits.memoryBytes must be a positive integer",
      "gates.maxRowDropRatio must be between 0 and 1",
      "gates.maxRows must be an integer >= minRows",
      "maxAgeSeconds must be a positive integer",
      'unknown format "xlsx" (expected csv, ndjson, parquet)',
      "formats lists a format twice",
      "build must be a function",
    ]);
  });

  it("keeps the messages of single problems as they were", () => {
    const message = (options: Partial<DatasetOptions>) => {
      try {
        defineDataset({ name: "x", schedule: "* * * * *", build, ...options } as DatasetOptions);
      } catch (error) {
        return (error as Error).message;
      }
      return null;
    };
    expect(message({ name: "Bad" })).toBe('dataset "Bad": invalid name (expected [a-z0-9][a-z0-9-]{0,63})');
    expect(message({ formats: "csv" as never })).toBe('dataset "x": formats must be an array of "csv", "ndjson", "parquet"');
    expect(message({ gates: { minRows: -1 } })).toBe('dataset "x": gates.minRows must be a non-negative integer');
    expect(message({ limits: { memoryBytes: 2 ** 20 }, gates: { maxRows: 3 }, formats: [] })).toBeNull();
  });
});

describe("defineDataset's freshness budget", () => {
  it("defaults to three intervals of the schedule, at least five minutes", () => {
    const budget = (schedule: string) => defineDataset({ name: "x", schedule, build }).maxAgeSeconds;
    expect(budget("*/5 * * * *")).toBe(900);
    expect(budget("0 * * * *")).toBe(3 * 3600);
    expect(budget("* * * * *")).toBe(300);
    expect(budget("*/10 * * * * *")).toBe(300);
  });

  it("takes an irregular schedule's longest gap as its interval (weekdays only: the weekend)", () => {
    expect(scheduleIntervalSeconds("0 9 * * 1-5", new Date("2026-11-30T00:00:00Z"))).toBe(72 * 3600);
    expect(defineDataset({ name: "x", schedule: "0 9 * * 1-5", build }).maxAgeSeconds).toBe(3 * 72 * 3600);
  });

  it("keeps an explicit budget and refuses one that is not a positive integer", () => {
    expect(defineDataset({ name: "x", schedule: "*/5 * * * *", maxAgeSeconds: 120, build }).maxAgeSeconds).toBe(120);
    for (const bad of [0, -5, 1.5, Number.NaN]) {
      expect(() => defineDataset({ name: "x", schedule: "*/5 * * * *", maxAgeSeconds: bad, build })).toThrow(/maxAgeSeconds must be a positive integer/);
    }
  });
});

describe("the dataset registry", () => {
  it("lists the three bundled examples with their schedules", async () => {
    const definitions = await loadDatasets("compute/examples/index.ts");
    expect(definitions.map((d) => [d.name, d.schedule, d.key])).toEqual([
      ["airport-delays", "*/5 * * * *", "iata"],
      ["busiest-routes", "*/5 * * * *", "route"],
      ["daily-delays", "*/5 * * * *", null],
    ]);
  });

  it("fails with unknown-dataset naming the known datasets", async () => {
    const definitions = await loadDatasets("compute/examples/index.ts");
    expect(() => findDataset(definitions, "nope")).toThrow(/unknown dataset "nope" \(known: airport-delays, busiest-routes, daily-delays\)/);
  });

  it("fails with a config error when the module does not exist", async () => {
    await expect(loadDatasets("test/compute/fixtures/missing.ts")).rejects.toMatchObject({ code: "config" });
  });

  it("loads the listed modules one by one: a module that throws on import stops only itself and is named with its error", async () => {
    const registry = await loadRegistry("test/compute/fixtures/registry/index.ts");
    expect(registry.definitions.map((d) => d.name)).toEqual(["reg-fine", "reg-inline"]);
    expect(registry.broken).toEqual([
      {
        file: "test/compute/fixtures/registry/reg-explodes.ts",
        name: "reg-explodes",
        reason: "dataset module test/compute/fixtures/registry/reg-explodes.ts failed to load: the module itself is broken",
      },
      {
        file: "test/compute/fixtures/registry/reg-empty.ts",
        name: "reg-empty",
        reason: "dataset module test/compute/fixtures/registry/reg-empty.ts must default-export a dataset made by defineDataset()",
      },
    ]);
    // Asking for the broken dataset is a configuration error with its reason; the others are found.
    expect(() => findDataset(registry.definitions, "reg-explodes", registry.broken)).toThrow(registry.broken[0]!.reason);
    expect(findDataset(registry.definitions, "reg-fine", registry.broken).name).toBe("reg-fine");
    // A caller that needs every dataset is told which module is broken.
    await expect(loadDatasets("test/compute/fixtures/registry/index.ts")).rejects.toMatchObject({ code: "config", message: registry.broken[0]!.reason });
  });

  it("hands the scheduler the broken modules as unloadable datasets, and a schedule override for one is no typo", async () => {
    const config = loadConfig({ EDGESNAP_DATASETS: "test/compute/fixtures/registry/index.ts", EDGESNAP_SCHEDULES: '{"reg-explodes":"* * * * *"}' });
    const { datasets, unloadable } = await loadScheduledDatasets(config, () => {});
    expect(datasets.map((d) => d.name)).toEqual(["reg-fine", "reg-inline"]);
    expect(unloadable.map((u) => u.name)).toEqual(["reg-explodes", "reg-empty"]);
  });

  // The scheduler imports the registry; loading polars' native library there would put the very
  // memory this design keeps out of the long-lived process back into it.
  it("loads without loading nodejs-polars (checked in a fresh process)", async () => {
    const probe = (extra: string) => `
      const { loadDatasets } = await import("./compute/dataset/registry.ts");
      const names = (await loadDatasets("compute/examples/index.ts")).map((d) => d.name);
      ${extra}
      const native = process.report.getReport().sharedObjects.filter((file) => file.includes("nodejs-polars"));
      console.log(JSON.stringify({ names, native }));`;
    const plain = await run(process.execPath, ["--input-type=module", "-e", probe("")]);
    const result = JSON.parse(plain.stdout) as { names: string[]; native: string[] };
    expect(result.names).toHaveLength(3);
    expect(result.native).toEqual([]);
    // The probe itself works: importing polars does show its native library.
    const control = await run(process.execPath, ["--input-type=module", "-e", probe('await import("nodejs-polars");')]);
    expect((JSON.parse(control.stdout) as { native: string[] }).native.length).toBeGreaterThan(0);
  });
});
