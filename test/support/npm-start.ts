/**
 * Starts the embedded default the way the README does (`npm start -- --port <free port>`), in its
 * own process group like a terminal's foreground job, for end-to-end and browser tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { commandLineOf, descendantsOf, freePort, isAlive, waitFor } from "./processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

export interface NpmStart {
  app: ChildProcess;
  /** The local Worker, e.g. http://127.0.0.1:41234. */
  base: string;
  /** Everything npm start printed so far (for failure messages). */
  output(): string;
  /** Resolves once the scheduler has started (the Worker answered with our token before that). */
  ready(timeoutMs?: number): Promise<void>;
  /** The pid of `node compute/cli/bin.ts start` under npm and its shell. */
  startPid(): number;
  /** Ctrl-C the group, wait up to `graceMs`, then SIGKILL whatever is left. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `npm start` with `env` added to this process's environment, on `port` or a free one. */
export async function startNpmStart(env: NodeJS.ProcessEnv, options: { port?: number } = {}): Promise<NpmStart> {
  const port = options.port ?? (await freePort());
  const app = spawn("npm", ["start", "--", "--port", String(port)], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, EDGESNAP_METRICS_PORT: "0", ...env },
  });
  let output = "";
  app.stdout?.on("data", (chunk) => (output += chunk));
  app.stderr?.on("data", (chunk) => (output += chunk));
  return {
    app,
    base: `http://127.0.0.1:${port}`,
    output: () => output,
    async ready(timeoutMs = 90_000) {
      await waitFor(
        "npm start to be ready",
        async () => {
          if (app.exitCode !== null || app.signalCode !== null) throw new Error(`npm start exited:\n${output.slice(-3000)}`);
          return output.includes('"event":"scheduler-started"') ? true : undefined;
        },
        timeoutMs,
      );
    },
    startPid() {
      // npm runs the script through `sh -c "node compute/cli/bin.ts start ..."`: skip the shell.
      const pid = descendantsOf(app.pid!).find((p) => /^\S*node compute\/cli\/bin\.ts start\b/.test(commandLineOf(p)));
      if (pid === undefined) throw new Error("no edgesnap start process under npm start");
      return pid;
    },
    async stop(graceMs = 20_000) {
      const pid = app.pid;
      if (!pid || !isAlive(pid)) return;
      const before = descendantsOf(pid);
      const exited = new Promise((resolve) => app.once("exit", resolve));
      process.kill(-pid, "SIGINT");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, graceMs))]);
      for (const p of [pid, ...before]) if (isAlive(p)) process.kill(p, "SIGKILL");
    },
  };
}
