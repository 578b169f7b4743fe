/**
 * What a re-read registry changes for a running scheduler, decided without I/O: which datasets
 * join (and run once), leave, change (a new schedule or limits, or a module file that changed: run
 * once), break (stop, with their module's reason) or are unchanged.
 */
import type { BrokenDatasetModule } from "../dataset/registry.ts";

/** What the scheduler keeps of a dataset; `file` is its module, null when defined in the registry. */
export interface ReloadableDataset {
  name: string;
  schedule: string;
  limits: { timeoutMs: number; memoryBytes: number };
  file?: string | null;
}

export interface RegistryDiff<T extends ReloadableDataset> {
  /** New datasets (or ones whose module loads again): scheduled and run once. */
  added: T[];
  /** Datasets whose definition or module file changed: rescheduled and run once. */
  changed: T[];
  /** Datasets no longer in the registry (scheduled or unloadable): no longer scheduled (a running run finishes). */
  removed: string[];
  /** Datasets whose module no longer loads, with the module's reason (only new or changed reasons). */
  broken: { name: string; reason: string }[];
  /** Every dataset whose module does not load now, with its reason: the new `unloadable`. */
  unloadable: Map<string, string>;
}

function sameDefinition(a: ReloadableDataset, b: ReloadableDataset): boolean {
  return a.schedule === b.schedule && a.limits.timeoutMs === b.limits.timeoutMs && a.limits.memoryBytes === b.limits.memoryBytes;
}

/**
 * Compares the scheduler's datasets with the registry as just read.
 * @param current the datasets scheduled now, by name
 * @param unloadable datasets whose module did not load last time, with the reason given then
 * @param changedFiles module files (absolute) whose content changed since the last read
 */
export function diffRegistry<T extends ReloadableDataset>(
  current: ReadonlyMap<string, ReloadableDataset>,
  unloadable: ReadonlyMap<string, string>,
  next: { datasets: readonly T[]; broken: readonly BrokenDatasetModule[] },
  changedFiles: ReadonlySet<string>,
): RegistryDiff<T> {
  const diff: RegistryDiff<T> = { added: [], changed: [], removed: [], broken: [], unloadable: new Map() };
  const nextNames = new Set(next.datasets.map((d) => d.name));
  for (const dataset of next.datasets) {
    const now = current.get(dataset.name);
    if (!now) diff.added.push(dataset);
    else if (!sameDefinition(now, dataset) || (dataset.file != null && changedFiles.has(dataset.file))) diff.changed.push(dataset);
  }
  const brokenNames = new Set<string>();
  for (const module of next.broken) {
    if (module.name === null || nextNames.has(module.name)) continue;
    brokenNames.add(module.name);
    diff.unloadable.set(module.name, module.reason);
    if (unloadable.get(module.name) !== module.reason) diff.broken.push({ name: module.name, reason: module.reason });
  }
  for (const name of new Set([...current.keys(), ...unloadable.keys()])) {
    if (!nextNames.has(name) && !brokenNames.has(name)) diff.removed.push(name);
  }
  return diff;
}

/** True when the diff changes nothing. */
export function isEmptyDiff(diff: RegistryDiff<ReloadableDataset>): boolean {
  return diff.added.length + diff.changed.length + diff.removed.length + diff.broken.length === 0;
}
