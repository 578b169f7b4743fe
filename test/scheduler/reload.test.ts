/**
 * A running scheduler picks up a new or changed dataset module without a restart and runs it once;
 * a module that breaks stops only itself; one removed from the registry stops being scheduled. The
 * pure diff first, then real processes: `npm start` as the README starts it and `edgesnap
 * scheduler` against a real local edge, with a registry in a temp dir the test edits as a person
 * would, and the scheduler process checked for never having loaded polars.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLocalToken } from "../../compute/embedded/local-token.ts";
import { diffRegistry } from "../../compute/scheduler/reload.ts";
import { startNpmStart, type NpmStart } from "../support/npm-start.ts";
import { logEntries, spawnCli, waitFor } from "../support/processes.ts";
import { startLocalEdge, type LocalEdge } from "./local-edge.ts";

const DEFINE = path.resolve(import.meta.dirname, "../../compute/dataset/define.ts");
const limits = { timeoutMs: 90_000, memoryBytes: 1024 ** 3 };

describe("what a re-read registry changes (pure)", () => {
  const current = new Map([
    ["a", { name: "a", schedule: "* * * * *", limits, file: "/r/a.ts" }],
    ["b", { name: "b", schedule: "* * * * *", limits, file: "/r/b.ts" }],
    ["c", { name: "c", schedule: "* * * * *", limits, file: null }],
    ["gone", { name: "gone", schedule: "* * * * *", limits, file: "/r/gone.ts" }],
  ]);

  it("adds new datasets, reruns changed ones (definition or module file), removes the missing, stops the broken", () => {
    const diff = diffRegistry(
      current,
      new Map(),
      {
        datasets: [
          { name: "a", schedule: "* * * * *", limits, file: "/r/a.ts" },
          { name: "b", schedule: "*/5 * * * *", limits, file: "/r/b.ts" },
          { name: "c", schedule: "* * * * *", limits, file: null },
          { name: "new", schedule: "* * * * *", limits, file: "/r/new.ts" },
        ],
        broken: [{ file: "r/broke.ts", name: "broke", reason: "dataset module r/broke.ts failed to load: x" }],
      },
      new Set(["/r/new.ts"]),
    );
    expect(diff.added.map((d) => d.name)).toEqual(["new"]);
    expect(diff.changed.map((d) => d.name)).toEqual(["b"]);
    expect(diff.removed).toEqual(["gone"]);
    expect(diff.broken).toEqual([{ name: "broke", reason: "dataset module r/broke.ts failed to load: x" }]);
    // A module file that changed reruns its dataset even when its definition reads the same.
    const touched = diffRegistry(current, new Map(), { datasets: [...current.values()], broken: [] }, new Set(["/r/a.ts"]));
    expect(touched.changed.map((d) => d.name)).toEqual(["a"]);
  });

  it("reports a broken module once per reason, and a scheduled dataset that breaks is not also 'removed'", () => {
    const broken = [{ file: "r/a.ts", name: "a", reason: "dataset module r/a.ts failed to load: SyntaxError" }];
    const first = diffRegistry(current, new Map(), { datasets: [], broken }, new Set());
    expect(first.broken.map((b) => b.name)).toEqual(["a"]);
    expect(first.removed).toEqual(["b", "c", "gone"]);
    const again = diffRegistry(new Map(), first.unloadable, { datasets: [], broken }, new Set());
    expect(again.broken).toEqual([]);
    // Taken out of the registry while broken: removed too.
    expect(diffRegistry(new Map(), first.unloadable, { datasets: [], broken: [] }, new Set()).removed).toEqual(["a"]);
    // Fixed: it joins again as a new dataset.
    const fixed = diffRegistry(new Map(), first.unloadable, { datasets: [{ name: "a", schedule: "* * * * *", limits, file: "/r/a.ts" }], broken: [] }, new Set());
    expect(fixed.added.map((d) => d.name)).toEqual(["a"]);
    expect(fixed.unloadable.size).toBe(0);
  });
});

/** A dataset module file for the temp registry, building `rows` rows. */
function moduleText(name: string, rows: number): string {
  return `import { defineDataset } from ${JSON.stringify(DEFINE)};
export default defineDataset({ name: ${JSON.stringify(name)}, schedule: "0 0 1 1 *", formats: [], build: ({ pl }) => pl.DataFrame({ n: ${JSON.stringify(Array.from({ length: rows }, (_, i) => i))} }) });
`;
}

async function writeRegistry(dir: string, modules: string[]): Promise<void> {
  await writeFile(path.join(dir, "index.ts"), `export default ${JSON.stringify(modules.map((m) => `./${m}.ts`))};\n`);
}

/** True when the process mapped nodejs-polars' native library. */
function loadedPolars(pid: number): boolean {
  return readFileSync(`/proc/${pid}/maps`, "utf8").includes("nodejs-polars");
}

describe("a running `npm start`", () => {
  let work: string;
  let registry: string;
  let system: NpmStart;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-reload-"));
    registry = path.join(work, "datasets");
    await import("node:fs/promises").then((fs) => fs.mkdir(registry));
    await writeFile(path.join(registry, "rl-first.ts"), moduleText("rl-first", 2));
    await writeRegistry(registry, ["rl-first"]);
    system = await startNpmStart({
      EDGESNAP_DATASETS: path.join(registry, "index.ts"),
      EDGESNAP_PERSIST_TO: path.join(work, "state"),
      EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
      EDGESNAP_MODULE_TIMEOUT_MS: "3000",
    });
    await system.ready();
  }, 150_000);

  afterAll(async () => {
    await system?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const rows = async (name: string) => {
    const res = await fetch(`${system.base}/v1/datasets/${name}`);
    return res.status === 200 ? ((await res.json()) as unknown[]).length : undefined;
  };
  const entries = () => logEntries(system.output());
  const context = () => `\n${system.output().slice(-4000)}`;

  it("picks up a dataset added while it runs and runs it once, reruns a changed one, and stops a broken one alone", async () => {
    expect(await waitFor("the first dataset", () => rows("rl-first"), 90_000)).toBe(2);

    // Add a module and list it, as `edgesnap new` or a person would.
    await writeFile(path.join(registry, "rl-second.ts"), moduleText("rl-second", 5));
    await writeRegistry(registry, ["rl-first", "rl-second"]);
    expect(await waitFor("the added dataset to be served", () => rows("rl-second"), 60_000).catch((e: Error) => Promise.reject(new Error(e.message + context())))).toBe(5);
    expect(entries().find((e) => e.event === "datasets-reloaded")).toMatchObject({ added: ["rl-second"], changed: [], removed: [] });
    const secondRuns = () => entries().filter((e) => e.event === "run-finished" && e.dataset === "rl-second");
    await waitFor("the added dataset's finished run", async () => (secondRuns().length > 0 ? true : undefined), 30_000);
    expect(secondRuns().map((e) => e.trigger)).toEqual(["reload"]);
    // Operators' rebuild requests reach the added dataset too.
    const token = readLocalToken(path.join(work, "state"));
    const asked = await fetch(`${system.base}/admin/v1/datasets/rl-second/rebuild?force=1`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    expect(asked.status).toBe(202);
    await waitFor("the added dataset's requested run", async () => (secondRuns().some((e) => e.trigger === "rebuild-request") ? true : undefined), 60_000);

    // Change a module: it runs once more and publishes what it builds now.
    await writeFile(path.join(registry, "rl-first.ts"), moduleText("rl-first", 3));
    expect(await waitFor("the changed dataset's new version", async () => ((await rows("rl-first")) === 3 ? 3 : undefined), 60_000)).toBe(3);

    // Break a module: only it stops, named; the other still runs when asked; its last version is still served.
    await writeFile(path.join(registry, "rl-second.ts"), "export default defineDataset({\n");
    const unloadable = await waitFor("the broken module to be reported", async () => entries().find((e) => e.event === "dataset-unloadable" && e.dataset === "rl-second"), 60_000);
    expect(unloadable.reason).toMatch(/^dataset module \S+rl-second\.ts failed to load: /);
    const before = entries().filter((e) => e.event === "run-finished" && e.dataset === "rl-first").length;
    const rebuild = await fetch(`${system.base}/admin/v1/datasets/rl-first/rebuild?force=1`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    expect(rebuild.status).toBe(202);
    await waitFor("rl-first to run on request", async () => (entries().filter((e) => e.event === "run-finished" && e.dataset === "rl-first").length > before ? true : undefined), 60_000);
    expect(await rows("rl-second")).toBe(5);

    // Removed from the registry: no longer scheduled.
    await writeRegistry(registry, ["rl-first"]);
    await waitFor("the removal", async () => entries().find((e) => e.event === "datasets-reloaded" && (e.removed as string[]).includes("rl-second")), 60_000);

    // All of it without the scheduler ever loading polars: every module was read in probe children.
    expect(loadedPolars(system.startPid())).toBe(false);
  }, 300_000);
});

describe("a running `edgesnap scheduler`", () => {
  let local: LocalEdge;
  beforeAll(async () => {
    local = await startLocalEdge();
  }, 120_000);
  afterAll(async () => {
    await local?.stop();
  });

  it("runs a dataset module added to its registry once, without a restart", async () => {
    const registry = path.join(local.work, "datasets");
    await import("node:fs/promises").then((fs) => fs.mkdir(registry));
    await writeFile(path.join(registry, "rl-solo.ts"), moduleText("rl-solo", 1));
    await writeRegistry(registry, ["rl-solo"]);
    const cli = spawnCli(["scheduler"], { ...local.env(), EDGESNAP_DATASETS: path.join(registry, "index.ts"), EDGESNAP_TEMP_ROOT: path.join(local.work, "runs") }, { timeoutMs: 150_000 });
    try {
      const finished = (name: string) => logEntries(cli.stdout()).filter((e) => e.event === "run-finished" && e.dataset === name);
      await waitFor("the first run", async () => (finished("rl-solo").length > 0 ? true : undefined), 90_000);
      await writeFile(path.join(registry, "rl-added.ts"), moduleText("rl-added", 4));
      await writeRegistry(registry, ["rl-solo", "rl-added"]);
      await waitFor("the added dataset's run", async () => (finished("rl-added").length > 0 ? true : undefined), 60_000);
      expect(finished("rl-added").map((e) => [e.trigger, e.outcome, e.rows])).toEqual([["reload", "ok", 4]]);
      // Only the added dataset ran again: the unchanged one did not.
      expect(finished("rl-solo")).toHaveLength(1);
      expect(loadedPolars(cli.pid)).toBe(false);
      process.kill(cli.pid, "SIGTERM");
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.kill();
    }
  }, 200_000);
});
