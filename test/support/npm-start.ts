/**
 * Starts the embedded default the way the README does (`npm start -- --port <free port>`), in its
 * own process group like a terminal's foreground job, for end-to-end and browser tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { descendantsOf, freePort, isAlive } from "./processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

export interface NpmStart {
  app: ChildProcess;
  /** The local Worker, e.g. http://127.0.0.1:41234. */
  base: string;
  /** Everything npm start printed so far (for failure messages). */
  output(): string;
  /** Ctrl-C the group, wait up to `graceMs`, then SIGKILL whatever is left. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `npm start` with `env` added to this process's environment. */
export async function startNpmStart(env: NodeJS.ProcessEnv): Promise<NpmStart> {
  const port = await freePort();
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
