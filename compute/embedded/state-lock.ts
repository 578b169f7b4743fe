/**
 * One `npm start` per local state dir. Two starts on one `.wrangler/state` would fight over the
 * port, the token file and the local R2, so a start holds `<state>/edgesnap-start.lock` while it
 * runs. The lock names its holder by pid AND start time (/proc/<pid>/stat), so a lock left by a
 * start that was SIGKILLed is recognised as stale even once its pid has been reused.
 *
 * Crash-safe by construction: the lock file appears complete or not at all. It is written to a
 * fresh private file (O_EXCL) and then hard-linked into place: link(2) fails with EEXIST when a
 * lock exists, an atomic create-if-absent like O_EXCL, but with the content already in it, so no
 * reader ever sees a half-written lock and mistakes it for garbage. A stale lock is taken over by renaming it aside and
 * checking that what was moved is the stale lock seen; a live lock moved by a racing start is put
 * back, so a live start never loses its lock.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { EdgesnapError } from "../errors.ts";
import { isProcessAlive, selfProcStat } from "../scheduler/proc.ts";

export const STATE_LOCK_FILE = "edgesnap-start.lock";

interface LockHolder {
  pid: number;
  startTime: number;
}

export interface StateLock {
  file: string;
  /** The holder of a stale lock (a start that died) this lock replaced, if any. */
  tookOver: LockHolder | null;
  /** Removes the lock if it is still ours. Safe to call twice. */
  release(): void;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    return Number.isInteger(value.pid) && Number.isInteger(value.startTime) ? { pid: value.pid!, startTime: value.startTime! } : null;
  } catch {
    return null;
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/**
 * Takes the lock of `stateDir` for this process.
 * @throws {EdgesnapError} "config" (exit 2) naming the pid of the start that holds it
 */
export function acquireStateLock(stateDir: string): StateLock {
  fs.mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, STATE_LOCK_FILE);
  const { pid, startTime } = selfProcStat();
  const ours = `${JSON.stringify({ pid, startTime })}\n`;
  const draft = `${file}.${pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(draft, ours, { mode: 0o600, flag: "wx" });
  let tookOver: LockHolder | null = null;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(draft, file);
        return { file, tookOver, release: () => releaseIfOurs(file, ours) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const seen = readText(file);
      if (seen === null) continue;
      const holder = parseHolder(seen);
      if (holder && isProcessAlive(holder.pid, holder.startTime)) {
        throw new EdgesnapError(
          "config",
          `another edgesnap start (pid ${holder.pid}) is running on ${stateDir}; stop it first, or set EDGESNAP_PERSIST_TO to another state dir`,
        );
      }
      // Stale (its holder is gone) or unreadable garbage: move it aside, then make sure what moved
      // is what we judged.
      const aside = `${file}.${pid}.stale`;
      try {
        fs.renameSync(file, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw error;
      }
      if (readText(aside) !== seen) {
        // A racing start had just taken it: give it back.
        try {
          fs.linkSync(aside, file);
        } catch {
          // A third start got in first; it holds the lock now.
        }
      } else tookOver = holder;
      fs.rmSync(aside, { force: true });
    }
    throw new EdgesnapError("config", `could not take the lock ${file}: other starts keep taking it`);
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

/**
 * The live `edgesnap start` that holds `stateDir`'s lock, or null when none does (no lock, a stale
 * one, or garbage). Read-only: for a process that must not open a second writer on that state.
 */
export function liveStateLockHolder(stateDir: string): LockHolder | null {
  const text = readText(path.join(stateDir, STATE_LOCK_FILE));
  const holder = text === null ? null : parseHolder(text);
  return holder && isProcessAlive(holder.pid, holder.startTime) ? holder : null;
}

function releaseIfOurs(file: string, ours: string): void {
  try {
    if (fs.readFileSync(file, "utf8") === ours) fs.rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
