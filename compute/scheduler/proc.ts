/**
 * What the scheduler knows about a run's processes, read from Linux's /proc: which processes belong
 * to a run (the child's process group plus every descendant, even one that left the group with
 * setsid), how much resident memory they hold together, and how to kill all of them.
 * https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
 */
import fs from "node:fs";

/** One process as /proc/<pid>/stat describes it. */
export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** R, S, D, Z (zombie), T... */
  state: string;
  /** Start time in clock ticks since boot: with the pid, identifies a process across pid reuse. */
  startTime: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name is in parentheses and may itself contain
 * spaces and parentheses, so fields are counted from the last ")".
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = Number(rest[19]);
  if (!state || !Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isInteger(pgrp)) return null;
  return { pid, ppid, pgrp, state, startTime };
}

/** Reads one process's stat, or null when it has gone. */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** True while `pid` is alive (zombies count as gone) and is the process that started at `startTime`. */
export function isProcessAlive(pid: number, startTime: number): boolean {
  const now = readProcStat(pid);
  return now !== null && now.startTime === startTime && now.state !== "Z";
}

let self: ProcStat | null = null;

/** This process as /proc describes it: its pid and start time identify it as an owner. */
export function selfProcStat(): ProcStat {
  self ??= readProcStat(process.pid);
  if (self === null) throw new Error(`cannot read /proc/${process.pid}/stat`);
  return self;
}

/** Every process visible in /proc. */
export function listProcesses(): ProcStat[] {
  const result: ProcStat[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) result.push(stat);
  }
  return result;
}

/**
 * The processes of a run: members of the process group `pgid` and every descendant of `rootPid`
 * (a descendant may have moved to its own group or session). Zombies are left out: they hold no
 * memory and cannot be killed.
 */
export function findRunProcesses(rootPid: number, pgid: number, processes = listProcesses()): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const found = new Map<number, ProcStat>();
  const stack = processes.filter((p) => p.pgrp === pgid || p.pid === rootPid);
  for (const p of stack) found.set(p.pid, p);
  while (stack.length > 0) {
    const parent = stack.pop()!;
    for (const child of children.get(parent.pid) ?? []) {
      if (found.has(child.pid)) continue;
      found.set(child.pid, child);
      stack.push(child);
    }
  }
  return [...found.values()].filter((p) => p.state !== "Z");
}

/** Resident set size of one process in bytes (VmRSS of /proc/<pid>/status), 0 when it has gone. */
export function readRssBytes(pid: number): number {
  return readStatusKib(pid, "VmRSS") * 1024;
}

/** The highest resident set size the process has had (VmHWM), which periodic samples may miss. */
export function readPeakRssBytes(pid: number): number {
  return readStatusKib(pid, "VmHWM") * 1024;
}

function readStatusKib(pid: number, field: string): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, "m").exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Sends a signal, ignoring a target that has already gone (ESRCH) or that we may not signal
 * (EPERM, e.g. a setuid grandchild): this runs inside timers, where a throw would end the scheduler.
 */
export function signalQuietly(target: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signals a whole run: its process group (negative pid) and each known process that is still the
 * same process (same start time), so one that left the group with setsid is not missed and a
 * reused pid is never hit.
 */
export function signalRun(pgid: number, known: Iterable<ProcStat>, signal: NodeJS.Signals): void {
  signalQuietly(-pgid, signal);
  for (const p of known) {
    const now = readProcStat(p.pid);
    if (now && now.startTime === p.startTime && now.state !== "Z") signalQuietly(p.pid, signal);
  }
}

/** True while some process (zombies aside) of the group or the known set is alive. */
export function isRunAlive(pgid: number, known: Iterable<ProcStat>): boolean {
  const processes = listProcesses();
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  if (processes.some((p) => p.pgrp === pgid && p.state !== "Z")) return true;
  for (const p of known) {
    const now = byPid.get(p.pid);
    if (now && now.startTime === p.startTime && now.state !== "Z") return true;
  }
  return false;
}

/** Resident memory of the whole calling process in bytes. */
export function selfRssBytes(): number {
  return process.memoryUsage.rss();
}
