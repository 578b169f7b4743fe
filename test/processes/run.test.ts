/**
 * A one-shot `edgesnap run <dataset>` as a real process with the real local store: the build runs in
 * a supervised child (the scheduler's limits, a run dir named after its owner), SIGINT and SIGTERM
 * stop it cleanly even while its storage hangs, a hung store is bounded by the dataset's timeout,
 * and a SIGKILL of the command leaves no process (child, workerd) and no run dir behind.
 * A hung store is made by stopping (SIGSTOP) the run's own workerd.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { commandLineOf, descendantsOf, isAlive, spawnCli, waitFor, type SpawnedCli } from "../support/processes.ts";

describe("edgesnap run <dataset>, one-shot", () => {
  let work: string;
  let runs: string;
  let current: SpawnedCli | null = null;

  const env = (release: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    EDGESNAP_PERSIST_TO: path.join(work, "state"),
    EDGESNAP_TEMP_ROOT: runs,
    EDGESNAP_DATASETS: "test/processes/fixtures/datasets.ts",
    // Nothing listens here: the publish notice fails, which must not fail a run.
    EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
    PROC_WAIT_RELEASE: path.join(work, release),
    ...extra,
  });

  /** Starts `edgesnap run proc-wait` and resolves once its build waits, with the processes below it. */
  async function startWaitingRun(release: string, extra: NodeJS.ProcessEnv = {}) {
    const cli = spawnCli(["run", "proc-wait"], env(release, extra), { timeoutMs: 90_000 });
    current = cli;
    await waitFor("the build to wait", async () => (cli.stderr().includes("proc-wait waiting") ? true : undefined), 60_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${cli.stderr().slice(-2000)}`);
    });
    const tree = descendantsOf(cli.pid);
    const workerd = tree.filter((p) => commandLineOf(p).includes("workerd"));
    expect(workerd.length).toBeGreaterThan(0);
    return { cli, tree, workerd };
  }

  const allGone = async (pids: number[]) => {
    await waitFor("every process of the run to exit", async () => (pids.every((p) => !isAlive(p)) ? true : undefined), 10_000).catch(() => {
      throw new Error(`still alive:\n${pids.filter(isAlive).map((p) => `${p} ${commandLineOf(p)}`).join("\n")}`);
    });
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-oneshot-"));
    runs = path.join(work, "runs");
  });

  afterEach(() => {
    current?.kill();
    current = null;
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("builds in a supervised child with a run dir named after its owner, and stops on SIGINT with exit 130", async () => {
    const { cli, tree } = await startWaitingRun("release-sigint");
    expect(tree.some((p) => commandLineOf(p).includes("compute/run/child.ts proc-wait"))).toBe(true);
    const dirs = await readdir(runs);
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).toMatch(new RegExp(`^run-${cli.pid}-\\d+-proc-wait-[A-Za-z0-9]{6}$`));

    process.kill(cli.pid, "SIGINT");
    expect((await cli.exit).code).toBe(130);
    expect(cli.stdout()).toMatch(/^proc-wait: cancelled: /);
    await allGone(tree);
    expect(await readdir(runs)).toEqual([]);
  }, 90_000);

  it("stops on SIGTERM with exit 143 even while its storage hangs, removing its run dir", async () => {
    const { cli, tree, workerd } = await startWaitingRun("release-sigterm");
    for (const pid of workerd) process.kill(pid, "SIGSTOP");
    process.kill(cli.pid, "SIGTERM");
    expect((await cli.exit).code).toBe(143);
    await allGone(tree);
    expect(await readdir(runs)).toEqual([]);
  }, 90_000);

  it("exits with its code when the store hangs mid-publish: the dataset's timeout bounds it (exit 4)", async () => {
    const { cli, tree, workerd } = await startWaitingRun("release-hang", { PROC_WAIT_TIMEOUT_MS: "15000" });
    for (const pid of workerd) process.kill(pid, "SIGSTOP");
    await writeFile(path.join(work, "release-hang"), "");
    expect((await cli.exit).code).toBe(4);
    expect(cli.stdout()).toMatch(/^proc-wait: timed-out: exceeded the timeout of 15 s\n$/);
    await allGone(tree);
    expect(await readdir(runs)).toEqual([]);
  }, 90_000);

  it("leaves no process and no run dir behind when it is SIGKILLed", async () => {
    const { cli, tree } = await startWaitingRun("release-sigkill");
    process.kill(cli.pid, "SIGKILL");
    await cli.exit;
    await allGone(tree);
    await waitFor("the run dir to be removed", async () => ((await readdir(runs)).length === 0 ? true : undefined), 10_000);
    expect(existsSync(path.join(work, "release-sigkill"))).toBe(false);
  }, 90_000);
});
