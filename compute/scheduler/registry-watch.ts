/**
 * Watches the dataset registry of a running scheduler: the registry module and every module it
 * lists are polled (a stat each, every second by default; a poll works on every filesystem and
 * survives editors that replace a file), and after a change has settled (the same on two polls
 * running) the registry is read again in probe children (dataset/registry.ts), never in this
 * process: the scheduler never imports a changed module, so it never loads polars and never keeps
 * old module versions in memory.
 */
import fs from "node:fs/promises";
import { probeRegistry, type RegistryProbe } from "../dataset/registry.ts";

export const DEFAULT_REGISTRY_POLL_MS = 1_000;

export interface RegistryWatchOptions {
  modulePath: string;
  /** Time limit for importing one module. Default: EDGESNAP_MODULE_TIMEOUT_MS, else 10 s. */
  timeoutMs?: number;
  intervalMs?: number;
  /**
   * A fresh read of the registry: the first one at start, then one after each change, with the
   * files (absolute) whose content changed since the read before (empty for the first).
   */
  onRead: (probe: RegistryProbe, changedFiles: ReadonlySet<string>) => void;
  /** The registry itself could not be read (a syntax error in it, say); the next change is tried again. */
  onError: (error: Error) => void;
}

export interface RegistryWatch {
  /** Stops polling and waits for a read in progress. */
  stop(): Promise<void>;
}

/** A file's identity and content stamp, "missing" when it is not there. */
async function stampOf(file: string): Promise<string> {
  try {
    const stat = await fs.stat(file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return "missing";
  }
}

async function stampsOf(files: readonly string[]): Promise<Map<string, string>> {
  return new Map(await Promise.all(files.map(async (file) => [file, await stampOf(file)] as const)));
}

function differing(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): Set<string> {
  const changed = new Set<string>();
  for (const [file, stamp] of after) if (before.get(file) !== stamp) changed.add(file);
  return changed;
}

/** Starts watching: reads the registry once at once, then polls. */
export function watchRegistry(options: RegistryWatchOptions): RegistryWatch {
  const intervalMs = options.intervalMs ?? DEFAULT_REGISTRY_POLL_MS;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let working: Promise<void> = Promise.resolve();
  /** The stamps of the files as of the last read; null until the first read succeeded. */
  let known: Map<string, string> | null = null;
  /** What the previous poll saw differ, to wait until a change has settled. */
  let pending: Map<string, string> | null = null;

  const read = async (changed: ReadonlySet<string>) => {
    const before = known;
    try {
      const probe = await probeRegistry(options.modulePath, { timeoutMs: options.timeoutMs });
      // Stamps taken after the read: a file saved during it is seen again at the next poll.
      known = await stampsOf(probe.files);
      if (!stopped) options.onRead(probe, before === null ? new Set() : new Set([...changed, ...differing(before, known)].filter((f) => known!.has(f))));
    } catch (error) {
      // Keep polling what was known (or the registry alone): the next save tries again.
      known = await stampsOf(before ? [...before.keys()] : [options.modulePath]);
      if (!stopped) options.onError(error as Error);
    }
  };

  const poll = async () => {
    if (known === null) return read(new Set());
    const now = await stampsOf([...known.keys()]);
    const changed = differing(known, now);
    if (changed.size === 0) {
      pending = null;
      return;
    }
    const settled = pending !== null && differing(pending, now).size === 0;
    pending = now;
    if (settled) {
      pending = null;
      await read(changed);
    }
  };

  const tick = () => {
    if (stopped) return;
    working = poll()
      .catch((error: unknown) => options.onError(error as Error))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await working;
    },
  };
}
