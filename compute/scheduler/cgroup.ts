/**
 * One cgroup (v2) per run, where the machine lets this process make them: every process of the
 * run, even one that double-forked and called setsid (no longer in the run's process group, no
 * longer a descendant of the child), stays in the cgroup, and writing "1" to its `cgroup.kill`
 * kills them all at once. Where cgroups cannot be made (no cgroup2 mount, no write access, a
 * kernel before 5.14 without `cgroup.kill`), runs fall back to process-group and descendant
 * tracking (proc.ts), which a double fork escapes.
 * https://docs.kernel.org/admin-guide/cgroup-v2.html
 *
 * A run's cgroup is a child of this process's own cgroup, named like its run dir
 * (`edgesnap-run-<owner pid>-<owner start time>-...`), so the start-up sweep can remove the ones a
 * crashed owner left, by the same rule as run dirs.
 */
import fs from "node:fs";
import path from "node:path";
import { runDirOwner } from "./temp-root.ts";
import { isProcessAlive } from "./proc.ts";

const CGROUP_PREFIX = "edgesnap-";

/** Where this process's own cgroup is in the cgroup2 filesystem, or null without one. */
export function ownCgroupDir(): string | null {
  let mountinfo: string;
  let membership: string;
  try {
    mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8");
    membership = fs.readFileSync("/proc/self/cgroup", "utf8");
  } catch {
    return null;
  }
  // Fields: id parent major:minor root mount-point options... - fstype source super-options.
  const mount = mountinfo
    .split("\n")
    .map((line) => line.split(" "))
    .find((fields) => fields[fields.indexOf("-") + 1] === "cgroup2");
  const own = /^0::(.*)$/m.exec(membership)?.[1];
  if (!mount || own === undefined) return null;
  const [root, mountPoint] = [mount[3]!, mount[4]!];
  const relative = path.posix.relative(root, own);
  if (relative.startsWith("..")) return null;
  const dir = path.join(mountPoint, relative);
  return fs.existsSync(path.join(dir, "cgroup.procs")) ? dir : null;
}

export interface RunCgroup {
  dir: string;
  /** Moves a process (and, from then on, everything it forks) into the cgroup. */
  add(pid: number): boolean;
  /** Pids of the processes in the cgroup now. */
  pids(): number[];
  /** SIGKILLs every process in the cgroup. */
  kill(): void;
  /** True while some process is in the cgroup. */
  populated(): boolean;
  /** Removes the (empty) cgroup; false when it could not be removed yet. */
  remove(): boolean;
}

/**
 * Creates the cgroup for a run dir named `runDirName`.
 * @returns null when cgroups cannot be used here (the run falls back to process groups)
 */
export function createRunCgroup(runDirName: string): RunCgroup | null {
  const parent = ownCgroupDir();
  if (!parent) return null;
  const dir = path.join(parent, `${CGROUP_PREFIX}${runDirName}`);
  try {
    fs.mkdirSync(dir);
    if (!fs.existsSync(path.join(dir, "cgroup.kill"))) {
      fs.rmdirSync(dir);
      return null;
    }
  } catch {
    return null;
  }
  return cgroupAt(dir);
}

function cgroupAt(dir: string): RunCgroup {
  const write = (file: string, text: string): boolean => {
    try {
      fs.writeFileSync(path.join(dir, file), text);
      return true;
    } catch {
      return false;
    }
  };
  return {
    dir,
    add: (pid) => write("cgroup.procs", String(pid)),
    pids() {
      try {
        return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    kill: () => void write("cgroup.kill", "1"),
    populated() {
      try {
        return /^populated 1$/m.test(fs.readFileSync(path.join(dir, "cgroup.events"), "utf8"));
      } catch {
        return false;
      }
    },
    remove() {
      try {
        fs.rmdirSync(dir);
        return true;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === "ENOENT";
      }
    },
  };
}

/**
 * Kills every process in the run cgroup this process is in, itself included. For a run child
 * whose supervisor has died. Does nothing outside a run cgroup.
 * @returns false when this process is not in a run cgroup
 */
export function killOwnRunCgroup(): boolean {
  const dir = ownCgroupDir();
  if (!dir || !path.basename(dir).startsWith(`${CGROUP_PREFIX}run-`)) return false;
  cgroupAt(dir).kill();
  return true;
}

/**
 * Kills and removes the run cgroups (children of this process's cgroup) whose owner is gone, like
 * the temp-root sweep does for run dirs.
 * @returns the names removed
 */
export function sweepRunCgroups(): string[] {
  const parent = ownCgroupDir();
  if (!parent) return [];
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = name.startsWith(CGROUP_PREFIX) ? runDirOwner(name.slice(CGROUP_PREFIX.length)) : null;
    if (!owner || isProcessAlive(owner.pid, owner.startTime)) continue;
    const cgroup = cgroupAt(path.join(parent, name));
    cgroup.kill();
    if (cgroup.remove()) removed.push(name);
  }
  return removed;
}
