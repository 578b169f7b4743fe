/**
 * The datasets a long-lived command schedules: the registry's, with the configuration's schedule
 * overrides and limit caps applied. A listed module that fails to load stops only its own dataset:
 * it is handed to the scheduler as unloadable (which records a failed run for it) when its file
 * names the dataset, and logged either way.
 */
import { applyDatasetOverrides, type Config } from "../config.ts";
import type { DatasetDefinition } from "../dataset/define.ts";
import { loadRegistry } from "../dataset/registry.ts";
import type { UnloadableDataset } from "../scheduler/index.ts";

export interface ScheduledDatasets {
  datasets: DatasetDefinition[];
  unloadable: UnloadableDataset[];
}

/**
 * Loads the configured registry for the scheduler.
 * @throws {EdgesnapError} "config" when the registry itself cannot be used or an override is wrong
 */
export async function loadScheduledDatasets(
  config: Pick<Config, "datasets" | "schedules" | "limits">,
  log: (level: "error", event: string, fields: Record<string, unknown>) => void,
): Promise<ScheduledDatasets> {
  const { definitions, broken } = await loadRegistry(config.datasets);
  const unloadable: UnloadableDataset[] = [];
  for (const module of broken) {
    if (module.name !== null) unloadable.push({ name: module.name, reason: module.reason });
    else log("error", "dataset-module-broken", { file: module.file, reason: module.reason });
  }
  const datasets = applyDatasetOverrides(definitions, config, unloadable.map((u) => u.name));
  return { datasets, unloadable };
}
