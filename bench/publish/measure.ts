/**
 * Measuring one command the way the publish benchmark measures a run: its wall time and the peak
 * summed RSS of its whole process tree, sampled every 100 ms (and another tree's growth beside it,
 * such as the local Worker's).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { findRunProcesses, readRssBytes } from "../../compute/scheduler/proc.ts";

const REPO = path.resolve(import.meta.dirname, "../..");

export interface Measured {
  wallMs: number;
  peakRss: number;
  code: number | null;
  output: string;
  /** Peak RSS growth of another process tree during the run (the local Worker's). */
  besidePeakGrowth?: number;
}

/** Peak summed RSS of a process tree (the root and every descendant). */
function treeRss(pid: number): number {
  return findRunProcesses(pid, pid).reduce((total, p) => total + readRssBytes(p.pid), 0);
}

/**
 * Runs a command as a process-group leader, sampling its tree's RSS every 100 ms (and another
 * tree's, `beside`), killing it above `ceiling`.
 */
export async function measure(command: string[], env: NodeJS.ProcessEnv, options: { ceiling?: number; beside?: number } = {}): Promise<Measured> {
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO, env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  let peak = 0;
  const besideStart = options.beside ? treeRss(options.beside) : 0;
  let besidePeak = besideStart;
  const sample = () => {
    const rss = treeRss(child.pid!);
    peak = Math.max(peak, rss);
    if (options.beside) besidePeak = Math.max(besidePeak, treeRss(options.beside));
    if (options.ceiling && rss > options.ceiling) process.kill(-child.pid!, "SIGKILL");
  };
  const timer = setInterval(sample, 100);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (exitCode) => resolve(exitCode)));
  clearInterval(timer);
  return { wallMs: performance.now() - started, peakRss: peak, code, output, ...(options.beside ? { besidePeakGrowth: besidePeak - besideStart } : {}) };
}

