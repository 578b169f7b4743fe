/**
 * The dataset registry: a module (compute/examples/index.ts unless EDGESNAP_DATASETS names another,
 * e.g. test fixtures) whose default export lists the datasets, each entry either a definition made
 * by defineDataset or the path of a module (relative to the registry) whose default export is one
 * (or an array of them). Listed modules are imported one by one, so a module that fails to import
 * stops only its own dataset: the others load, and the broken one is reported by file and error.
 * The scheduler loads the registry to read names, schedules and limits, so nothing here may load
 * nodejs-polars.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { isDatasetName } from "../../contract/names.ts";
import { EdgesnapError } from "../errors.ts";
import type { DatasetDefinition } from "./define.ts";

/** A listed module that could not be loaded. */
export interface BrokenDatasetModule {
  /** The module's path as the registry resolves it, relative to the working directory when inside it. */
  file: string;
  /** The dataset it is taken to define: its file name, when that is a valid dataset name. */
  name: string | null;
  /** One line: the file and what went wrong. */
  reason: string;
}

export interface DatasetRegistry {
  /** Every dataset that loaded, in registry order. */
  definitions: DatasetDefinition[];
  /** Every listed module that did not. */
  broken: BrokenDatasetModule[];
}

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

/** Collapses an error to one line (a syntax error or a defineDataset refusal spans several). */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, "; ").trim();
}

function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

/** Imports one listed module and returns its definitions, or what made it unusable. */
async function loadModule(file: string): Promise<DatasetDefinition[] | BrokenDatasetModule> {
  const shown = displayPath(file);
  const base = path.basename(file).replace(/\.[^.]*$/, "");
  const broken = (why: string): BrokenDatasetModule => ({ file: shown, name: isDatasetName(base) ? base : null, reason: `dataset module ${shown} ${why}` });
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    return broken(`failed to load: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
  const exported = Array.isArray(loaded.default) ? loaded.default : [loaded.default];
  if (exported.length === 0 || !exported.every(looksLikeDefinition)) return broken("must default-export a dataset made by defineDataset()");
  return exported;
}

/**
 * Imports the registry module, then each module it lists, one by one.
 * @param modulePath file path, relative paths resolve against the working directory
 * @throws {EdgesnapError} "config" when the registry module itself cannot be loaded, does not
 *   default-export an array of definitions and module paths, or names a dataset twice. A listed
 *   module that fails is not thrown: it is in `broken`.
 */
export async function loadRegistry(modulePath: string): Promise<DatasetRegistry> {
  const registryFile = path.resolve(modulePath);
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(registryFile).href)) as { default?: unknown };
  } catch (error) {
    throw new EdgesnapError("config", `cannot load datasets from ${modulePath}: ${(error as Error).message}`, { cause: error });
  }
  const entries = loaded.default;
  if (!Array.isArray(entries)) {
    throw new EdgesnapError("config", `${modulePath} must default-export an array of dataset definitions`);
  }
  const registry: DatasetRegistry = { definitions: [], broken: [] };
  for (const [index, entry] of entries.entries()) {
    if (typeof entry === "string") {
      const result = await loadModule(path.resolve(path.dirname(registryFile), entry));
      if (Array.isArray(result)) registry.definitions.push(...result);
      else registry.broken.push(result);
    } else if (looksLikeDefinition(entry)) registry.definitions.push(entry);
    else throw new EdgesnapError("config", `${modulePath}: entry ${index} is not a dataset made by defineDataset()`);
  }
  const seen = new Set<string>();
  for (const { name } of registry.definitions) {
    if (seen.has(name)) throw new EdgesnapError("config", `${modulePath}: dataset ${name} is defined twice`);
    seen.add(name);
  }
  return registry;
}

/**
 * The registry's datasets, for callers that need all of them (tools, benchmarks).
 * @throws {EdgesnapError} "config" as loadRegistry does, and naming the first listed module that
 *   could not be loaded.
 */
export async function loadDatasets(modulePath: string): Promise<DatasetDefinition[]> {
  const { definitions, broken } = await loadRegistry(modulePath);
  if (broken.length > 0) throw new EdgesnapError("config", broken[0]!.reason);
  return definitions;
}

/**
 * Finds a dataset by name.
 * @throws {EdgesnapError} "config" with the module's error when the dataset's module is one of
 *   `broken`; "unknown-dataset" naming the datasets that do exist otherwise
 */
export function findDataset(definitions: readonly DatasetDefinition[], name: string, broken: readonly BrokenDatasetModule[] = []): DatasetDefinition {
  const found = definitions.find((definition) => definition.name === name);
  if (found) return found;
  const unloadable = broken.find((module) => module.name === name);
  if (unloadable) throw new EdgesnapError("config", unloadable.reason);
  const known = definitions.map((definition) => definition.name).join(", ") || "none";
  throw new EdgesnapError("unknown-dataset", `unknown dataset ${JSON.stringify(name)} (known: ${known})`);
}
