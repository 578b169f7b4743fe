/**
 * The temp root (EDGESNAP_TEMP_ROOT) and the run dirs in it. Every run dir, the scheduler's and a
 * one-shot `edgesnap run`'s alike, is named after the process that made it and removes it:
 * `run-<owner pid>-<owner start time>-<dataset>-<random>`. The start time (clock ticks since boot,
 * from /proc/<pid>/stat) tells a live owner from a reused pid, so the start-up sweep removes only
 * dirs whose owner is gone and never those of live runs (another scheduler sharing the root, or a
 * run still being stopped). Cleanup that only runs on the happy path is not cleanup: the sweep is
 * what removes the dirs of an owner that was SIGKILLed.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { CONFIG_ENV } from "../config.ts";
import { EdgesnapError } from "../errors.ts";
import { isProcessAlive, selfProcStat } from "./proc.ts";

/** Prefix of every run dir under the temp root; the sweep looks at nothing else. */
export const RUN_DIR_PREFIX = "run-";

/** `run-<pid>-<start time>-<dataset>-<6 characters of mkdtemp>`. */
const RUN_DIR_NAME = /^run-(\d+)-(\d+)-([a-z0-9][a-z0-9-]*)-[A-Za-z0-9]{6}$/;

export interface RunDirOwner {
  pid: number;
  startTime: number;
}

/** The owner recorded in a run dir's name, or null for a name that is not a run dir's. */
export function runDirOwner(name: string): RunDirOwner | null {
  const match = RUN_DIR_NAME.exec(name);
  return match ? { pid: Number(match[1]), startTime: Number(match[2]) } : null;
}

/**
 * Creates a private run dir under `tempRoot`, owned by this process.
 * @returns its absolute path
 */
export async function createRunDir(tempRoot: string, dataset: string): Promise<string> {
  const { pid, startTime } = selfProcStat();
  return fs.mkdtemp(path.join(path.resolve(tempRoot), `${RUN_DIR_PREFIX}${pid}-${startTime}-${dataset}-`));
}

function tempRootError(tempRoot: string, detail: string): EdgesnapError {
  return new EdgesnapError("config", `invalid setting ${CONFIG_ENV.tempRoot} (${tempRoot}: ${detail})`);
}

/**
 * Makes sure the temp root is a directory this process can create run dirs in, creating it (and
 * missing parents) if needed. Called at start by every command that runs builds, so a bad root
 * stops the process with one line instead of failing every run.
 * @throws {EdgesnapError} "config" (exit code 2) naming EDGESNAP_TEMP_ROOT: a path through a file,
 *   a file, a read-only or special filesystem (e.g. /proc), missing permissions, a full filesystem
 *   (under 1 MiB free).
 */
export async function prepareTempRoot(tempRoot: string): Promise<void> {
  const root = path.resolve(tempRoot);
  // Create missing components one at a time: a recursive mkdir loops forever on a filesystem that
  // answers ENOENT under a parent that exists (mkdir in /proc does).
  const missing: string[] = [];
  let dir = root;
  for (;;) {
    try {
      const stat = await fs.stat(dir);
      if (!stat.isDirectory()) throw tempRootError(tempRoot, dir === root ? "not a directory" : `${dir} is not a directory`);
      break;
    } catch (error) {
      if (error instanceof EdgesnapError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOTDIR") throw tempRootError(tempRoot, "a part of the path is a file, not a directory");
      if (code !== "ENOENT" || path.dirname(dir) === dir) throw tempRootError(tempRoot, `cannot look it up (${code})`);
      missing.unshift(dir);
      dir = path.dirname(dir);
    }
  }
  for (const component of missing) {
    try {
      await fs.mkdir(component);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw tempRootError(tempRoot, `cannot create ${component} (${code})`);
    }
  }
  // A run dir made and removed now proves runs can make theirs; named like one, so a crash
  // between the two steps leaves something the sweep removes.
  let probe: string;
  try {
    probe = await createRunDir(root, "probe");
  } catch (error) {
    throw tempRootError(tempRoot, `cannot create run dirs in it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  await fs.rm(probe, { recursive: true, force: true });
  const free = await freeBytes(root);
  if (free !== null && free < TEMP_ROOT_FULL_BELOW_BYTES) throw tempRootError(tempRoot, `no space left: ${formatMiB(free)} free`);
}

/** Below this much free space the temp root counts as full: no run could write its rows. */
export const TEMP_ROOT_FULL_BELOW_BYTES = 1024 * 1024;

/** Bytes an unprivileged process may still write on the filesystem holding `dir`, or null if unknown. */
export async function freeBytes(dir: string): Promise<number | null> {
  try {
    const stats = await fs.statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Why a run that failed in `runDir` may have failed for lack of space: one sentence naming
 * EDGESNAP_TEMP_ROOT when its filesystem is (nearly) full or the failure says so, else null. Call it
 * before the run dir is removed: removing it frees what the run wrote.
 */
export async function fullTempRootReason(tempRoot: string, runDir: string, failure: string | null): Promise<string | null> {
  // The run may have removed its dir already (and with it what filled the disk): ask the root too.
  const free = (await freeBytes(runDir)) ?? (await freeBytes(tempRoot));
  const nearlyFull = free !== null && free < TEMP_ROOT_FULL_BELOW_BYTES;
  const saysSo = failure !== null && /ENOSPC|EDQUOT|no space left on device|disk quota exceeded|os error 28\b/i.test(failure);
  if (!saysSo && !nearlyFull) return null;
  const left = nearlyFull ? ` (${formatMiB(free)} left)` : "";
  return `${CONFIG_ENV.tempRoot} ${path.resolve(tempRoot)} ran out of space${left}: give runs more room there or point ${CONFIG_ENV.tempRoot} at a larger disk`;
}

/**
 * Removes the run dirs whose owner is gone (crashed, SIGKILLed). Dirs of live owners and entries
 * not named like run dirs are left alone, so a root shared by several schedulers, or pointed at a
 * shared directory by mistake, loses nothing that is in use. The root must exist.
 * @returns the names removed
 */
export async function sweepTempRoot(tempRoot: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(tempRoot)) {
    const owner = runDirOwner(name);
    if (!owner || isProcessAlive(owner.pid, owner.startTime)) continue;
    await fs.rm(path.join(tempRoot, name), { recursive: true, force: true, maxRetries: 3 });
    removed.push(name);
  }
  return removed;
}

/** Bytes allocated on disk under `root` (512-byte blocks, so sparse files count what they use). */
export async function measureDiskUsage(root: string): Promise<number> {
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: import("node:fs").Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      try {
        const stat = await fs.lstat(full);
        total += stat.blocks * 512;
        if (entry.isDirectory()) stack.push(full);
      } catch {
        // Removed while we looked: a run finished.
      }
    }
  }
  return total;
}
