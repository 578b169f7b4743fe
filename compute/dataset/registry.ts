/**
 * The dataset registry: a module whose default export is an array of dataset definitions
 * (compute/datasets/index.ts unless EDGESNAP_DATASETS names another, e.g. test fixtures). The
 * scheduler loads it to read names, schedules and limits, so nothing here may load nodejs-polars.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { EdgesnapError } from "../errors.ts";
import type { DatasetDefinition } from "./define.ts";

function looksLikeDefinition(value: unknown): value is DatasetDefinition {
  const candidate = value as Partial<DatasetDefinition> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    typeof candidate.name === "string" &&
    typeof candidate.schedule === "string" &&
    typeof candidate.build === "function" &&
    typeof candidate.limits === "object" &&
    typeof candidate.gates === "object"
  );
}

/**
 * Imports the registry module and checks its default export.
 * @param modulePath file path, relative paths resolve against the working directory
 * @throws {EdgesnapError} "config" when the module cannot be loaded, is not an array of
 *   definitions made by defineDataset, or names a dataset twice
 */
export async function loadDatasets(modulePath: string): Promise<DatasetDefinition[]> {
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(path.resolve(modulePath)).href)) as { default?: unknown };
  } catch (error) {
    throw new EdgesnapError("config", `cannot load datasets from ${modulePath}: ${(error as Error).message}`, { cause: error });
  }
  const definitions = loaded.default;
  if (!Array.isArray(definitions)) {
    throw new EdgesnapError("config", `${modulePath} must default-export an array of dataset definitions`);
  }
  const seen = new Set<string>();
  for (const [index, definition] of definitions.entries()) {
    if (!looksLikeDefinition(definition)) {
      throw new EdgesnapError("config", `${modulePath}: entry ${index} is not a dataset made by defineDataset()`);
    }
    if (seen.has(definition.name)) {
      throw new EdgesnapError("config", `${modulePath}: dataset ${definition.name} is defined twice`);
    }
    seen.add(definition.name);
  }
  return definitions;
}

/**
 * Finds a dataset by name.
 * @throws {EdgesnapError} "unknown-dataset" naming the datasets that do exist
 */
export function findDataset(definitions: readonly DatasetDefinition[], name: string): DatasetDefinition {
  const found = definitions.find((definition) => definition.name === name);
  if (!found) {
    const known = definitions.map((definition) => definition.name).join(", ") || "none";
    throw new EdgesnapError("unknown-dataset", `unknown dataset ${JSON.stringify(name)} (known: ${known})`);
  }
  return found;
}
