/**
 * `npm start` as a crash-only system, with real processes: the admin token never shows in `ps`;
 * one start per state dir (a second one is refused, naming the first); a port held by another
 * program is refused before anything starts; a one-shot run finds the local token, and a run whose
 * notice was lost is served after the next local cron; `kill -9` of the start process leaves no
 * process (wrangler, workerd, run children) and no run dir behind; and a start after that crash
 * comes up on the same state dir and port with its own token.
 */
import { readdirSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../compute/cli/main.ts";
import { localTokenPath } from "../../compute/embedded/local-token.ts";
import { startNpmStart, type NpmStart } from "../support/npm-start.ts";
import {
  commandLineOf,
  descendantsOf,
  freePort,
  isAlive,
  processesWhoseCommandLineContains,
  spawnCli,
  waitFor,
} from "../support/processes.ts";

describe("npm start, crash-only", () => {
  let work: string;
  let state: string;
  let runs: string;
  let csv: string;
  let first: NpmStart;
  let second: NpmStart | null = null;
  let port: number;

  const env = (): NodeJS.ProcessEnv => ({
    EDGESNAP_PERSIST_TO: state,
    EDGESNAP_TEMP_ROOT: runs,
    EDGESNAP_DATASETS: "test/processes/fixtures/datasets.ts",
    EDGESNAP_CONCURRENCY: "2",
    PROC_ONLY: "proc-source,proc-wait",
    EDGESNAP_LOCAL_CRON_INTERVAL_MS: "2000",
    PROC_SOURCE_CSV: csv,
    // Never created: proc-wait stays in its build, a run child alive for the whole test.
    PROC_WAIT_RELEASE: path.join(work, "never"),
  });
  const token = async () => (await readFile(localTokenPath(state), "utf8")).trim();

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-start-crash-"));
    state = path.join(work, "state");
    runs = path.join(work, "runs");
    csv = path.join(work, "greetings.csv");
    await writeFile(csv, "lang,greeting\nen,hello\n");
    first = await startNpmStart(env());
    port = Number(new URL(first.base).port);
    await first.ready();
  }, 120_000);

  afterAll(async () => {
    await first?.stop(0);
    await second?.stop(0);
    await rm(work, { recursive: true, force: true });
  });

  it("keeps the admin token out of every process's command line, and in private files only", async () => {
    await waitFor("proc-wait's run to be in its build", async () => ((await readdir(runs)).some((d) => d.includes("proc-wait")) ? true : undefined), 60_000);
    const secret = await token();
    expect(processesWhoseCommandLineContains(secret)).toEqual([]);
    for (const name of readdirSync(state)) {
      const file = path.join(state, name);
      if ((await stat(file)).isFile() && (await readFile(file, "utf8")).includes(secret)) {
        expect({ name, mode: (await stat(file)).mode & 0o777 }).toEqual({ name, mode: 0o600 });
      }
    }
  }, 90_000);

  it("refuses a second start on the same state dir in one line naming the running one's pid (exit 2)", async () => {
    const other = spawnCli(["start", "--port", String(await freePort())], env(), { timeoutMs: 40_000 });
    expect((await other.exit).code).toBe(2);
    expect(other.stderr().trim().split("\n")).toHaveLength(1);
    expect(other.stderr()).toContain(`pid ${first.startPid()}`);
  }, 60_000);

  it("refuses a port another program holds, in one line naming it, before starting anything", async () => {
    const other = spawnCli(["start", "--port", String(port)], { ...env(), EDGESNAP_PERSIST_TO: path.join(work, "other-state") }, { timeoutMs: 40_000 });
    expect((await other.exit).code).toBe(2);
    expect(other.stderr().trim().split("\n")).toHaveLength(1);
    expect(other.stderr()).toContain(`port ${port}`);
  }, 60_000);

  it("lets a one-shot run use the local token, and serves a run whose notice was lost after the next local cron", async () => {
    const served = async () => {
      const response = await fetch(`${first.base}/v1/datasets/proc-source`);
      return response.status === 200 ? ((await response.json()) as unknown[]) : undefined;
    };
    await waitFor("the scheduler's first proc-source", served, 60_000);

    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\n");
    const withLocalToken = spawnCli(["run", "proc-source", "--port", String(port)], env());
    expect((await withLocalToken.exit).code).toBe(0);
    expect(withLocalToken.stdout()).toMatch(/^proc-source: published /);
    expect(withLocalToken.stderr()).not.toContain("publish notice failed");

    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\n");
    // A run that cannot reach the Worker (a wrong URL) writes the bucket through a private local
    // runtime, and its publish notice is lost.
    const lostNotice = `http://127.0.0.1:${await freePort()}`;
    const wrongToken = spawnCli(["run", "proc-source", "--url", lostNotice, "--json"], env());
    expect((await wrongToken.exit).code).toBe(0);
    expect(wrongToken.stderr()).toContain("publish notice failed");
    const { version } = JSON.parse(wrongToken.stdout()) as { version: string };
    // Only the reconcile (the Worker's scheduled handler) puts a version whose notice was lost into
    // the catalog. The second local cron tick from now began after the publish. The catalog is not
    // read before, so no cached copy can hide the change.
    const ticks = () => first.output().split('"event":"local-cron-fired"').length - 1;
    const before = ticks();
    await waitFor("two local cron ticks", async () => (ticks() >= before + 2 ? true : undefined), 30_000);
    const listed = await waitFor(
      "the catalog to list the version whose notice was lost",
      async () => {
        const catalog = (await (await fetch(`${first.base}/v1/datasets`)).json()) as { datasets: { name: string; version: string }[] };
        return catalog.datasets.find((d) => d.name === "proc-source" && d.version === version);
      },
      30_000,
    );
    expect(listed.version).toBe(version);
  }, 120_000);

  it("leaves no process and no run dir behind when the start process is SIGKILLed", async () => {
    const startPid = first.startPid();
    const tree = descendantsOf(startPid);
    const commands = tree.map(commandLineOf);
    expect(commands.filter((c) => c.includes("workerd")).length).toBeGreaterThanOrEqual(2); // wrangler's two (runs write through the Worker)
    expect(commands.some((c) => c.includes("child.ts proc-wait"))).toBe(true);
    expect(await readdir(runs)).toHaveLength(1);

    process.kill(startPid, "SIGKILL");
    await waitFor("every process npm start started to exit", async () => (tree.every((p) => !isAlive(p)) ? true : undefined), 10_000).catch(() => {
      throw new Error(`still alive:\n${tree.filter(isAlive).map((p) => `${p} ${commandLineOf(p)}`).join("\n")}`);
    });
    await waitFor("the run dir to be removed", async () => ((await readdir(runs)).length === 0 ? true : undefined), 10_000);
  }, 60_000);

  it("comes up again after the crash on the same state dir and port, with its own token the CLI uses", async () => {
    const crashedToken = await token();
    second = await startNpmStart(env(), { port });
    await second.ready();
    expect(await token()).not.toBe(crashedToken);
    expect(second.output()).toContain('"event":"stale-lock-taken-over"');

    let stdout = "";
    const saved = { ...process.env };
    delete process.env.EDGESNAP_TOKEN;
    delete process.env.EDGESNAP_EDGE_URL;
    process.env.EDGESNAP_PERSIST_TO = state;
    try {
      const code = await runCli(["status", "--json", "--port", String(port)], { stdout: (t) => (stdout += t), stderr: () => {} });
      expect(code).toBe(0);
    } finally {
      process.env = saved;
    }
    const names = (JSON.parse(stdout) as { datasets: { name: string }[] }).datasets.map((d) => d.name);
    expect(names).toContain("proc-source");
  }, 120_000);
});
