/**
 * Helpers for tests that start real processes: free ports, waiting for HTTP, spawning the CLI, and
 * reading /proc (descendants, command lines) so a test can prove nothing outlived a shutdown or a
 * crash and that no secret shows in `ps`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { LogEntry } from "../../compute/run/logger.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces and parentheses; fields resume after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[1]);
  } catch {
    return null;
  }
}

/** Every live process below `root` (children, grandchildren, ...), excluding zombies. */
export function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent !== null) parents.set(pid, parent);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const current = queue.pop()!;
    for (const [pid, parent] of parents) {
      if (parent === current) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found.filter(isAlive);
}

/** True when `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The command line of `pid` with its arguments joined by spaces, or "" when it has gone. */
export function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Every process whose command line (/proc/<pid>/cmdline, which any user can read) contains `text`. */
export function processesWhoseCommandLineContains(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && commandLineOf(pid).includes(text)) found.push(pid);
  }
  return found;
}

export interface SpawnedCli {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits; after `timeoutMs` it is SIGKILLed (code null). */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the process and everything below it that is still alive. */
  kill(): void;
}

/** The JSON log entries in a process's output (its lines that are objects; human lines are skipped). */
export function logEntries(output: string): LogEntry[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogEntry);
}

/**
 * Spawns `node compute/cli/bin.ts <args>` from the repository root with `env` on top of this
 * process's environment (minus any EDGESNAP_* setting the developer may have), in its own group.
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, options: { timeoutMs?: number; wrap?: string[] } = {}): SpawnedCli {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EDGESNAP_")));
  const argv = [...(options.wrap ?? []), process.execPath, "compute/cli/bin.ts", ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: REPO_ROOT,
    env: { ...base, EDGESNAP_METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const kill = () => {
    if (!child.pid) return;
    for (const pid of [child.pid, ...descendantsOf(child.pid)]) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  };
  const timer = setTimeout(kill, options.timeoutMs ?? 60_000);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  return { child, pid: child.pid!, stdout: () => stdout, stderr: () => stderr, exit, kill };
}
