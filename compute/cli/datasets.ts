/**
 * The registry's datasets as the commands need them: all of them for the long-lived commands (the
 * scheduler's), one by name for a one-shot run or preview. Both apply the configuration's
 * schedule overrides and limit caps. A listed module that fails to load stops only its own
 * dataset: the scheduler gets it as unloadable (it records a failed run for it) when its file
 * names the dataset, and it is logged either way.
 */
import { applyDatasetOverrides, type Config } from "../config.ts";
import type { DatasetDefinition } from "../dataset/define.ts";
import { findDataset, loadRegistry } from "../dataset/registry.ts";
import { EdgesnapError } from "../errors.ts";
import type { UnloadableDataset } from "../scheduler/index.ts";
import { closestName } from "./suggest.ts";

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

/**
 * Loads one dataset of the configured registry, before any process starts: another dataset's
 * broken module does not matter.
 * @throws {EdgesnapError} "config" when the registry, or this dataset's own module, cannot be
 *   loaded; "unknown-dataset" for a name no dataset has, suggesting the closest known one
 */
export async function loadOneDataset(config: Pick<Config, "datasets" | "schedules" | "limits">, name: string): Promise<DatasetDefinition> {
  const { definitions, broken } = await loadRegistry(config.datasets);
  const unloadable = broken.flatMap((module) => (module.name === null ? [] : [module.name]));
  const overridden = applyDatasetOverrides(definitions, config, unloadable);
  try {
    return findDataset(overridden, name, broken);
  } catch (error) {
    if (!(error instanceof EdgesnapError) || error.code !== "unknown-dataset") throw error;
    throw unknownDataset(name, [...overridden.map((d) => d.name), ...unloadable]);
  }
}

/** The unknown-dataset error, with the closest known name when one is close. */
export function unknownDataset(name: string, known: readonly string[]): EdgesnapError {
  const suggestion = closestName(name, known);
  const hint = suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : "";
  return new EdgesnapError("unknown-dataset", `unknown dataset ${JSON.stringify(name)}${hint} (known: ${known.join(", ") || "none"})`);
}
