/**
 * Dataset modules that never finish importing stop only themselves, named, within the module time
 * limit (EDGESNAP_MODULE_TIMEOUT_MS): a module whose top level loops forever, one whose top-level
 * await never settles, one that exits the process. Real processes: the registry's probe children,
 * `edgesnap run` and `edgesnap scheduler` against a real local edge, publishing the good datasets.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRegistry, probeRegistry } from "../../compute/dataset/registry.ts";
import { logEntries, spawnCli, waitFor } from "../support/processes.ts";
import { startLocalEdge, type LocalEdge } from "./local-edge.ts";

const REGISTRY = "test/scheduler/fixtures/blocking/index.ts";
const LIMIT_MS = 1500;

let local: LocalEdge;
beforeAll(async () => {
  local = await startLocalEdge();
}, 120_000);
afterAll(async () => {
  await local?.stop();
});

const env = () => ({ ...local.env(), EDGESNAP_DATASETS: REGISTRY, EDGESNAP_MODULE_TIMEOUT_MS: String(LIMIT_MS), EDGESNAP_TEMP_ROOT: path.join(local.work, "runs") });

describe("a dataset module that never finishes importing", () => {
  it("is named and reported broken by the registry's probe, and the modules after it load", async () => {
    const probe = await probeRegistry(REGISTRY, { timeoutMs: LIMIT_MS });
    expect(probe.datasets.map((d) => d.name)).toEqual(["block-good", "block-late", "block-marks"]);
    expect(probe.broken.map((b) => [b.name, b.reason])).toEqual([
      ["block-spins", `dataset module test/scheduler/fixtures/blocking/block-spins.ts did not finish loading within ${LIMIT_MS} ms (a loop or a top-level await that never ends?); the other datasets run`],
      ["block-never-settles", `dataset module test/scheduler/fixtures/blocking/block-never-settles.ts did not finish loading within ${LIMIT_MS} ms (a loop or a top-level await that never ends?); the other datasets run`],
      ["block-exits", "dataset module test/scheduler/fixtures/blocking/block-exits.ts crashed the loader (exited with code 7): block-exits: giving up at import"],
    ]);
    // Everything to watch for changes: the registry and each listed module.
    expect(probe.files.map((file) => path.basename(file))).toEqual(["index.ts", "block-good.ts", "block-spins.ts", "block-never-settles.ts", "block-exits.ts", "block-late.ts", "block-marks.ts"]);
  }, 60_000);

  it("never blocks the process that loads the registry: the loaded definitions are the good ones", async () => {
    const registry = await loadRegistry(REGISTRY, { timeoutMs: LIMIT_MS });
    expect(registry.definitions.map((d) => d.name)).toEqual(["block-good", "block-late", "block-marks"]);
    expect(registry.broken.map((b) => b.name)).toEqual(["block-spins", "block-never-settles", "block-exits"]);
    // A run child loads only its own module: a never-settling one is cut at the limit, in-process.
    const one = await loadRegistry(REGISTRY, { timeoutMs: LIMIT_MS, only: "block-never-settles" });
    expect(one.broken.map((b) => b.reason)).toEqual([expect.stringContaining(`did not finish loading within ${LIMIT_MS} ms`)]);
  }, 60_000);

  it("lets `edgesnap run` publish another dataset, and fails its own run with one line naming it (exit 2)", async () => {
    const marks = path.join(local.work, "marks.txt");
    const good = spawnCli(["run", "block-good"], { ...env(), BLOCK_MARKS: marks }, { timeoutMs: 90_000 });
    expect((await good.exit).code).toBe(0);
    expect(good.stdout()).toMatch(/^block-good: published \S+ \(2 rows/);
    // The command read the whole registry (a probe child, then itself); the run child only its own module.
    expect((await readFile(marks, "utf8")).trim().split("\n").sort()).toEqual(["bin.ts", "registry-child.ts"]);

    const own = spawnCli(["run", "block-spins"], env(), { timeoutMs: 60_000 });
    expect((await own.exit).code).toBe(2);
    expect(own.stderr().trim()).toBe(
      `edgesnap: dataset module test/scheduler/fixtures/blocking/block-spins.ts did not finish loading within ${LIMIT_MS} ms (a loop or a top-level await that never ends?); the other datasets run`,
    );
  }, 150_000);

  it("lets `edgesnap scheduler` start and run every other dataset, logging each broken module by name", async () => {
    const cli = spawnCli(["scheduler"], env(), { timeoutMs: 120_000 });
    try {
      const entries = () => logEntries(cli.stdout());
      const finished = (name: string) => entries().find((e) => e.event === "run-finished" && e.dataset === name);
      await waitFor("both good datasets to publish", async () => (finished("block-good") && finished("block-late") ? true : undefined), 90_000);
      expect(finished("block-good")!.outcome).toMatch(/^(ok|unchanged)$/);
      expect(finished("block-late")!.outcome).toMatch(/^(ok|unchanged)$/);
      const unloadable = entries().filter((e) => e.event === "dataset-unloadable");
      expect(unloadable.map((e) => e.dataset)).toEqual(["block-spins", "block-never-settles", "block-exits"]);
      expect(unloadable[0]!.reason).toContain(`did not finish loading within ${LIMIT_MS} ms`);
      // Each broken dataset has its failed run record, at the edge too.
      const runs = await waitFor(
        "the broken module's record at the edge",
        async () => {
          const res = await local.admin("/datasets/block-spins/runs");
          const body = (await res.json()) as { runs: { outcome: string; reason: string }[] };
          return body.runs.length > 0 ? body.runs : undefined;
        },
        30_000,
      );
      expect(runs[0]).toMatchObject({ outcome: "failed", reason: expect.stringContaining("block-spins.ts did not finish loading") });
      process.kill(cli.pid, "SIGTERM");
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.kill();
    }
  }, 150_000);
});
