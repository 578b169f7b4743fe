/**
 * `npm start` as a crash-only system, with real processes: the admin token never shows in `ps`;
 * one start per state dir (a second one is refused, naming the first); a port held by another
 * program is refused before anything starts; a one-shot run finds the local token, and a run whose
 * notice was lost is served after the next local cron; a run whose Worker does not answer never
 * opens a second writer on the state; `kill -9` of the real workerd is noticed by a liveness probe
 * and the edge restarted; `kill -9` of the start process leaves no process (wrangler, workerd, run
 * children) and no run dir behind; a start after that crash comes up on the same state dir and
 * port with its own token; and wrangler dying on its own ends npm start with one line (exit 8).
 * Its output keeps wrangler's noise out, and on a terminal it prints a ready banner.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../compute/cli/main.ts";
import { loadRegistry } from "../../compute/dataset/registry.ts";
import { runDataset } from "../../compute/run/run.ts";
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

/** Runs `action` with `env` set on this process, then puts the environment back. */
async function withEnv<T>(env: NodeJS.ProcessEnv, action: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await action();
  } finally {
    process.env = saved;
  }
}

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

  it("keeps wrangler's request lines, its offline stack traces and its misleading cron advice out of the output", async () => {
    await waitFor("a run to write through the Worker", async () => (first.output().includes('"event":"run-finished"') ? true : undefined), 60_000);
    const output = first.output();
    expect(output).toContain('"event":"edge.ready"');
    expect(output).not.toMatch(/\[wrangler:info\] (GET|PUT|POST) \//);
    expect(output).not.toContain("/cdn-cgi/local/scheduled");
    expect(output).not.toContain("Request.cf");
    expect(output).not.toContain("ENOTFOUND");
    expect(output).not.toMatch(/^\[wrangler\]\s+at /m);
  }, 90_000);

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
    // A run that writes through the running Worker but whose publish notice is lost.
    const result = await withEnv({ ...env(), EDGESNAP_DATASETS: path.resolve("test/processes/fixtures/datasets.ts") }, async () => {
      const [definition] = (await loadRegistry("test/processes/fixtures/datasets.ts")).definitions.filter((d) => d.name === "proc-source");
      return runDataset(definition!, { config: { store: { kind: "local", persistTo: state, wranglerConfig: "wrangler.toml" }, edgeUrl: first.base, token: await token(), tempRoot: runs }, notify: false });
    });
    expect(result.outcome).toBe("ok");
    const version = result.version!;
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

  it("never opens a second writer on npm start's state: a run whose Worker does not answer fails (exit 8) instead of starting a private runtime", async () => {
    const current = async () => ((await (await fetch(`${first.base}/v1/datasets/proc-source`)).headers.get("x-edgesnap-version")) ?? null);
    const before = await current();
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\nit,ciao\n");
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const refused = spawnCli(["run", "proc-source", "--url", deadUrl], env());
    expect((await refused.exit).code).toBe(8);
    expect(refused.stdout()).toMatch(/^proc-source: failed: the local Worker of edgesnap start \(pid \d+\), which holds .* did not answer; not opening a second writer on its state\n$/);
    expect(await current()).toBe(before);
  }, 60_000);

  it("notices a workerd killed with kill -9 (the Worker stops answering while wrangler lives on), restarts the edge, and serves again", async () => {
    const startPid = first.startPid();
    const body = await waitFor(
      "proc-source to be served",
      async () => {
        const response = await fetch(`${first.base}/v1/datasets/proc-source`);
        return response.status === 200 ? response.text() : undefined;
      },
      60_000,
    );
    const entry = descendantsOf(startPid).filter((p) => commandLineOf(p).includes(`--socket-addr=entry=127.0.0.1:${port}`));
    expect(entry).toHaveLength(1);
    const outputBefore = first.output().length;
    process.kill(entry[0]!, "SIGKILL");
    const since = () => first.output().slice(outputBefore);
    await waitFor("npm start to notice the edge stopped answering", async () => (since().includes('"event":"edge-unresponsive"') ? true : undefined), 60_000);
    await waitFor("the edge to be restarted", async () => (since().includes('"event":"edge-restarted"') ? true : undefined), 60_000);
    expect(since()).toMatch(/"event":"edge-unresponsive","url":"http:\/\/127\.0\.0\.1:\d+","reason":"3 health checks in a row failed, the last: [^"]+","restart":1/);
    expect(isAlive(startPid)).toBe(true);
    const after = await fetch(`${first.base}/v1/datasets/proc-source`, { signal: AbortSignal.timeout(10_000) });
    expect(after.status).toBe(200);
    expect(await after.text()).toBe(body);
    const entryAfter = descendantsOf(startPid).filter((p) => commandLineOf(p).includes(`--socket-addr=entry=127.0.0.1:${port}`));
    expect(entryAfter).toHaveLength(1);
    expect(entryAfter[0]).not.toBe(entry[0]);
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

  it("ends with one line and exit 8 when wrangler dev dies on its own, leaving no process behind", async () => {
    const startPid = second!.startPid();
    const tree = descendantsOf(startPid);
    const watchdog = tree.find((p) => commandLineOf(p).includes("compute/embedded/watchdog.ts"));
    expect(watchdog).toBeDefined();
    const exited = new Promise<number | null>((resolve) => second!.app.once("exit", (code) => resolve(code)));
    process.kill(watchdog!, "SIGKILL");
    expect(await exited).toBe(8);
    const lines = second!.output().split("\n").filter((line) => line.startsWith("edgesnap: "));
    expect(lines).toEqual([expect.stringMatching(/^edgesnap: wrangler dev exited on its own \(SIGKILL\); stopped everything$/)]);
    await waitFor("every process npm start started to exit", async () => (tree.every((p) => !isAlive(p)) ? true : undefined), 15_000);
  }, 60_000);
});

describe("npm start on a terminal", () => {
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-start-tty-"));
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("prints a ready banner: the Worker's URL, the status page, the token file and each dataset's schedule", async () => {
    const port = await freePort();
    const state = path.join(work, "state");
    // `script` gives npm start a pseudo-terminal, as a person's shell would.
    const app = spawn("script", ["-qefc", `npm start -- --port ${port}`, "/dev/null"], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EDGESNAP_"))),
        EDGESNAP_PERSIST_TO: state,
        EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
        EDGESNAP_DATASETS: "test/processes/fixtures/datasets.ts",
        EDGESNAP_METRICS_PORT: "0",
        PROC_ONLY: "proc-colors",
      },
    });
    let output = "";
    app.stdout!.on("data", (chunk) => (output += chunk));
    app.stderr!.on("data", (chunk) => (output += chunk));
    const exited = new Promise((resolve) => app.once("exit", resolve));
    try {
      await waitFor("the ready banner", async () => (output.includes("edgesnap is ready") ? true : undefined), 90_000);
      await waitFor("the banner's last line", async () => (/datasets +proc-colors/.test(output) ? true : undefined), 10_000);
      const text = output.replace(/\r/g, "");
      const banner = text.slice(text.indexOf("edgesnap is ready"));
      expect(banner).toMatch(/^edgesnap is ready \(schedules in UTC; Ctrl-C stops everything\)\n/);
      expect(banner).toContain(`  Worker       http://127.0.0.1:${port}   (curl http://127.0.0.1:${port}/v1/datasets/proc-colors)\n`);
      expect(banner).toContain(`  status page  http://127.0.0.1:${port}/admin\n`);
      expect(banner).toContain(`  token        ${path.join(state, "edgesnap-admin-token")}   (cat it to sign in)\n`);
      expect(banner).toMatch(/ {2}metrics {6}http:\/\/127\.0\.0\.1:\d+\/metrics\n/);
      expect(banner).toMatch(/ {2}datasets {5}proc-colors {2}0 0 1 1 \*/);
      expect(text).not.toContain('"event":"edge.ready"');
      expect(text).not.toContain("/cdn-cgi/local/scheduled");
    } finally {
      process.kill(-app.pid!, "SIGINT");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      for (const p of [app.pid!, ...descendantsOf(app.pid!)]) if (isAlive(p)) process.kill(p, "SIGKILL");
    }
  }, 120_000);
});
