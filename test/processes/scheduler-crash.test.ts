/**
 * `kill -9` of the long-lived scheduler (`edgesnap scheduler`, what the container runs) while a real
 * run child is in its build: the child sees its result channel close, removes its run dir and kills
 * itself with everything it started (its own workerd for the local store), so no run lives on
 * without a timeout or a memory ceiling.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { commandLineOf, descendantsOf, isAlive, spawnCli, waitFor, type SpawnedCli } from "../support/processes.ts";

describe("edgesnap scheduler, SIGKILLed mid-run", () => {
  let work: string | null = null;
  let scheduler: SpawnedCli | null = null;

  afterAll(async () => {
    scheduler?.kill();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("takes its running children, their workerd and their run dirs with it", async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-sched-kill-"));
    const runs = path.join(work, "runs");
    const cli = spawnCli(["scheduler"], {
      EDGESNAP_PERSIST_TO: path.join(work, "state"),
      EDGESNAP_TEMP_ROOT: runs,
      EDGESNAP_DATASETS: "test/processes/fixtures/datasets.ts",
      EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
      PROC_ONLY: "proc-wait",
      PROC_WAIT_RELEASE: path.join(work, "never"),
    });
    scheduler = cli;
    await waitFor("proc-wait's build to wait", async () => (cli.stdout().includes("proc-wait waiting") ? true : undefined), 60_000);
    const tree = descendantsOf(cli.pid);
    const commands = tree.map(commandLineOf);
    expect(commands.some((c) => c.includes("compute/run/child.ts proc-wait"))).toBe(true);
    expect(commands.some((c) => c.includes("workerd"))).toBe(true);
    expect((await readdir(runs)).some((d) => d.includes("proc-wait"))).toBe(true);

    process.kill(cli.pid, "SIGKILL");
    await waitFor("every run process to exit", async () => (tree.every((p) => !isAlive(p)) ? true : undefined), 10_000).catch(() => {
      throw new Error(`still alive:\n${tree.filter(isAlive).map((p) => `${p} ${commandLineOf(p)}`).join("\n")}`);
    });
    await waitFor("the run dir to be removed", async () => ((await readdir(runs)).length === 0 ? true : undefined), 10_000);
  }, 90_000);
});
