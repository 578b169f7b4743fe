/**
 * The scheduler's temp root: swept of run dirs left by a crashed scheduler at start, and measured
 * for the temp-root bytes metric (seed 004: cleanup that only runs on the happy path is not cleanup).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { RUN_DIR_PREFIX } from "./supervise.ts";

/**
 * Creates the temp root if needed and removes every run dir in it. Only entries named like run dirs
 * are touched, so pointing the root at a shared directory by mistake does not wipe it.
 * @returns the names removed
 */
export async function sweepTempRoot(tempRoot: string): Promise<string[]> {
  await fs.mkdir(tempRoot, { recursive: true });
  const removed: string[] = [];
  for (const name of await fs.readdir(tempRoot)) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
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
