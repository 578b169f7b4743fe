/**
 * The dataset registry: a module (compute/examples/index.ts unless EDGESNAP_DATASETS names another,
 * e.g. test fixtures) whose default export lists the datasets, each entry either a definition made
 * by defineDataset or the path of a module (relative to the registry) whose default export is one
 * (or an array of them). Listed modules are imported one by one, so a module that fails to import
 * stops only its own dataset: the others load, and the broken one is reported by file and error.
 *
 * A module may also never finish importing: a loop at its top level blocks the whole process, and a
 * top-level await that never settles makes Node exit with code 13. So every module is first
 * imported in a probe child (registry-child.ts), one at a time with a time limit each
 * (EDGESNAP_MODULE_TIMEOUT_MS, default 10 s): a module over its limit is named and reported broken,
 * the child is killed and a fresh one goes on with the next module. Only the modules the probe
 * loaded are then imported here. The scheduler needs no more than the probe's summaries (names,
 * schedules, limits), so it can re-read a changed registry without importing anything itself.
 *
 * Nothing here may load nodejs-polars: dataset modules import it with `import type` only.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { isDatasetName } from "../../contract/names.ts";
import { moduleTimeoutMs } from "../config.ts";
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

/** What the scheduler and the tools need of a definition: everything but `build`. */
export const DatasetSummarySchema = z.object({
  name: z.string(),
  schedule: z.string(),
  key: z.string().nullable(),
  limits: z.object({ timeoutMs: z.number(), memoryBytes: z.number() }),
  maxAgeSeconds: z.number(),
  formats: z.array(z.string()),
  description: z.string(),
  /** The module that defines it (absolute), null for a definition written in the registry itself. */
  file: z.string().nullable(),
});
export type DatasetSummary = z.infer<typeof DatasetSummarySchema>;

/** The registry as the probe child read it, without importing anything into this process. */
export interface RegistryProbe {
  datasets: DatasetSummary[];
  broken: BrokenDatasetModule[];
  /** The registry module and every module it lists (absolute paths): what to watch for changes. */
  files: string[];
}

export interface LoadRegistryOptions {
  /** Time limit for importing one module. Default: EDGESNAP_MODULE_TIMEOUT_MS, else 10 s. */
  timeoutMs?: number;
  /**
   * Only this dataset is needed (a run child): import the registry and the module named after the
   * dataset, in this process with the time limit, and no probe child. When no module of that name
   * defines it, every module is imported as usual.
   */
  only?: string;
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

/** The broken-module record for `file`, with `why` after its name. */
export function brokenModule(file: string, why: string): BrokenDatasetModule {
  const shown = displayPath(file);
  const base = path.basename(file).replace(/\.[^.]*$/, "");
  return { file: shown, name: isDatasetName(base) ? base : null, reason: `dataset module ${shown} ${why}` };
}

/** Resolves with `promise`, or rejects with `onTimeout()` after `ms` (the timer never holds the exit). */
function withTimeLimit<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

class ModuleTimeout extends Error {}

/** Imports one listed module and returns its definitions, or what made it unusable. */
export async function importDatasetModule(file: string, timeoutMs = moduleTimeoutMs()): Promise<DatasetDefinition[] | BrokenDatasetModule> {
  let loaded: { default?: unknown };
  try {
    loaded = await withTimeLimit(import(pathToFileURL(file).href) as Promise<{ default?: unknown }>, timeoutMs, () => new ModuleTimeout());
  } catch (error) {
    if (error instanceof ModuleTimeout) return brokenModule(file, notFinishedWithin(timeoutMs));
    return brokenModule(file, `failed to load: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
  const exported = Array.isArray(loaded.default) ? loaded.default : [loaded.default];
  if (exported.length === 0 || !exported.every(looksLikeDefinition)) return brokenModule(file, "must default-export a dataset made by defineDataset()");
  return exported;
}

/** The reason of a module that did not finish importing within its limit. */
export function notFinishedWithin(timeoutMs: number): string {
  return `did not finish loading within ${formatSeconds(timeoutMs)} (a loop or a top-level await that never ends?); the other datasets run`;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** One entry of the registry's list: a module to import, or a definition written in the registry. */
export type RegistryEntry = { kind: "module"; file: string } | { kind: "inline"; definition: DatasetDefinition };

/**
 * Imports the registry module itself and reads its list.
 * @throws {EdgesnapError} "config" when it cannot be loaded (or not within the time limit), or
 *   does not default-export an array of definitions and module paths
 */
export async function readRegistryEntries(modulePath: string, timeoutMs = moduleTimeoutMs()): Promise<RegistryEntry[]> {
  const registryFile = path.resolve(modulePath);
  let loaded: { default?: unknown };
  try {
    loaded = await withTimeLimit(import(pathToFileURL(registryFile).href) as Promise<{ default?: unknown }>, timeoutMs, () => new ModuleTimeout());
  } catch (error) {
    if (error instanceof ModuleTimeout) throw new EdgesnapError("config", `cannot load datasets from ${modulePath}: it ${notFinishedWithin(timeoutMs).replace(/; the other.*$/, "")}`);
    throw new EdgesnapError("config", `cannot load datasets from ${modulePath}: ${(error as Error).message}`, { cause: error });
  }
  const entries = loaded.default;
  if (!Array.isArray(entries)) throw new EdgesnapError("config", `${modulePath} must default-export an array of dataset definitions`);
  return entries.map((entry, index): RegistryEntry => {
    if (typeof entry === "string") return { kind: "module", file: path.resolve(path.dirname(registryFile), entry) };
    if (looksLikeDefinition(entry)) return { kind: "inline", definition: entry };
    throw new EdgesnapError("config", `${modulePath}: entry ${index} is not a dataset made by defineDataset()`);
  });
}

/** @throws {EdgesnapError} "config" when two definitions share a name */
function checkUnique(modulePath: string, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new EdgesnapError("config", `${modulePath}: dataset ${name} is defined twice`);
    seen.add(name);
  }
}

/**
 * Loads the registry: the probe child first (each module with its time limit), then, in this
 * process, the registry and the modules the probe loaded.
 * @param modulePath file path, relative paths resolve against the working directory
 * @throws {EdgesnapError} "config" when the registry module itself cannot be loaded, does not
 *   default-export an array of definitions and module paths, or names a dataset twice. A listed
 *   module that fails, or does not finish within its time limit, is not thrown: it is in `broken`.
 */
export async function loadRegistry(modulePath: string, options: LoadRegistryOptions = {}): Promise<DatasetRegistry> {
  const timeoutMs = options.timeoutMs ?? moduleTimeoutMs();
  if (options.only !== undefined) {
    const found = await loadOne(modulePath, options.only, timeoutMs);
    if (found) return found;
  }
  const probe = await probeRegistry(modulePath, { timeoutMs });
  const brokenFiles = new Set(probe.broken.map((module) => path.resolve(module.file)));
  const registry: DatasetRegistry = { definitions: [], broken: [...probe.broken] };
  for (const entry of await readRegistryEntries(modulePath, timeoutMs)) {
    if (entry.kind === "inline") registry.definitions.push(entry.definition);
    else if (!brokenFiles.has(entry.file)) {
      const result = await importDatasetModule(entry.file, timeoutMs);
      if (Array.isArray(result)) registry.definitions.push(...result);
      else registry.broken.push(result);
    }
  }
  checkUnique(modulePath, registry.definitions.map((d) => d.name));
  return registry;
}

/** The `only` path: the registry's inline definitions and the module named after the dataset. */
async function loadOne(modulePath: string, name: string, timeoutMs: number): Promise<DatasetRegistry | null> {
  const entries = await readRegistryEntries(modulePath, timeoutMs);
  const definitions = entries.flatMap((entry) => (entry.kind === "inline" ? [entry.definition] : []));
  if (definitions.some((definition) => definition.name === name)) return { definitions, broken: [] };
  const own = entries.find((entry) => entry.kind === "module" && path.basename(entry.file).replace(/\.[^.]*$/, "") === name);
  if (!own || own.kind !== "module") return null;
  const result = await importDatasetModule(own.file, timeoutMs);
  if (!Array.isArray(result)) return { definitions, broken: [result] };
  return result.some((definition) => definition.name === name) ? { definitions: [...definitions, ...result], broken: [] } : null;
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

/** A definition as the probe child reports it. */
export function summarize(definition: DatasetDefinition, file: string | null): DatasetSummary {
  const { name, schedule, key, limits, maxAgeSeconds, formats, description } = definition;
  return { name, schedule, key, limits: { ...limits }, maxAgeSeconds, formats: [...formats], description, file };
}

// ---- the probe child's side of the conversation, read here --------------------------------------

/** One message of the probe child, a JSON line on its fd 3. Untrusted: a module could write there too. */
export const ProbeMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("registry"), modules: z.array(z.string().nullable()), inline: z.array(DatasetSummarySchema) }),
  z.object({ type: z.literal("loading"), index: z.number().int().nonnegative() }),
  z.object({ type: z.literal("loaded"), index: z.number().int().nonnegative(), datasets: z.array(DatasetSummarySchema) }),
  z.object({ type: z.literal("broken"), index: z.number().int().nonnegative(), module: z.object({ file: z.string(), name: z.string().nullable(), reason: z.string() }) }),
  z.object({ type: z.literal("fatal"), message: z.string() }),
  z.object({ type: z.literal("done") }),
]);
export type ProbeMessage = z.infer<typeof ProbeMessageSchema>;

const PROBE_CHILD = path.resolve(import.meta.dirname, "registry-child.ts");
/** Node's start and the registry module's own import come on top of the per-module limit. */
const PROBE_START_ALLOWANCE_MS = 15_000;

/**
 * Reads the registry in probe children, never importing a dataset module into this process: each
 * listed module gets `timeoutMs`; one over it, or one that crashes the child, is reported broken
 * and a fresh child goes on after it.
 * @throws {EdgesnapError} "config" when the registry module itself cannot be read (as loadRegistry)
 */
export async function probeRegistry(modulePath: string, options: { timeoutMs?: number } = {}): Promise<RegistryProbe> {
  const timeoutMs = options.timeoutMs ?? moduleTimeoutMs();
  const probe: RegistryProbe = { datasets: [], broken: [], files: [] };
  const byIndex = new Map<number, DatasetSummary[]>();
  for (let from: number | null = 0; from !== null; ) {
    const round = await probeFrom(modulePath, from, timeoutMs);
    if (round.fatal !== null) throw new EdgesnapError("config", round.fatal);
    if (from === 0) {
      probe.files = [round.registry, ...round.modules.filter((file): file is string => file !== null)];
      probe.datasets.push(...round.inline);
    }
    for (const [index, datasets] of round.loaded) byIndex.set(index, datasets);
    probe.broken.push(...round.broken);
    from = round.next;
  }
  for (const index of [...byIndex.keys()].sort((a, b) => a - b)) probe.datasets.push(...byIndex.get(index)!);
  checkUnique(modulePath, probe.datasets.map((d) => d.name));
  return probe;
}

interface ProbeRound {
  registry: string;
  /** Per registry entry: the module's file (absolute), null for an inline definition. */
  modules: (string | null)[];
  inline: DatasetSummary[];
  loaded: Map<number, DatasetSummary[]>;
  broken: BrokenDatasetModule[];
  /** Where a fresh child must go on (after a module that overran or crashed), null when done. */
  next: number | null;
  fatal: string | null;
}

/** One probe child, importing the listed modules from `from` on, killed when one overruns its limit. */
function probeFrom(modulePath: string, from: number, timeoutMs: number): Promise<ProbeRound> {
  const round: ProbeRound = { registry: path.resolve(modulePath), modules: [], inline: [], loaded: new Map(), broken: [], next: null, fatal: null };
  const child = spawn(process.execPath, [PROBE_CHILD, modulePath, String(from)], { cwd: process.cwd(), stdio: ["ignore", "ignore", "pipe", "pipe"], detached: true });
  let registryRead = false;
  let done = false;
  /** The module being imported now, and the last one finished. */
  let current: number | null = null;
  let finished = from - 1;
  let overran: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // Gone already.
    }
  };
  const arm = (ms: number, why: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      overran = why;
      kill();
    }, ms);
  };
  arm(timeoutMs + PROBE_START_ALLOWANCE_MS, `cannot load datasets from ${modulePath}: it ${notFinishedWithin(timeoutMs).replace(/; the other.*$/, "")}`);
  readJsonLines(child.stdio[3] as NodeJS.ReadableStream, (raw) => {
    const parsed = ProbeMessageSchema.safeParse(raw);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === "registry") {
      registryRead = true;
      round.modules = message.modules;
      round.inline = message.inline;
      clearTimeout(timer);
    } else if (message.type === "loading") {
      current = message.index;
      arm(timeoutMs, notFinishedWithin(timeoutMs));
    } else if (message.type === "loaded" || message.type === "broken") {
      clearTimeout(timer);
      if (message.type === "loaded") round.loaded.set(message.index, message.datasets);
      else round.broken.push(message.module);
      finished = message.index;
      current = null;
    } else if (message.type === "fatal") round.fatal = message.message;
    else done = true;
  });
  const lastStderr = lastMeaningfulLine(child.stderr as NodeJS.ReadableStream);
  return new Promise((resolve) => {
    child.once("error", (error) => {
      round.fatal = `cannot load datasets from ${modulePath}: ${error.message}`;
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      kill();
      if (done || round.fatal !== null) return resolve(round);
      const detail = lastStderr() ? `: ${lastStderr()}` : "";
      if (!registryRead) round.fatal = overran ?? `cannot load datasets from ${modulePath}: the loader ${exitText(code, signal)}${detail}`;
      else if (current !== null) {
        const why = overran ?? (code === 13 ? "never finished loading (a top-level await that never settles); the other datasets run" : `crashed the loader (${exitText(code, signal)})${detail}`);
        round.broken.push(brokenModule(round.modules[current] ?? modulePath, why));
        round.next = current + 1 < round.modules.length ? current + 1 : null;
      } else round.next = finished + 1 < round.modules.length ? finished + 1 : null;
      resolve(round);
    });
  });
}

/** The last stderr line that says something (not a stack frame, not Node's footer), capped. */
function lastMeaningfulLine(stream: NodeJS.ReadableStream): () => string {
  let last = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const line = chunk
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("at ") && !/^Node\.js v\d/.test(l) && l !== "^")
      .at(-1);
    if (line) last = line.slice(0, 300);
  });
  stream.on("error", () => {});
  return () => last;
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Splits a stream into JSON values, one per line; lines that do not parse are skipped. */
function readJsonLines(stream: NodeJS.ReadableStream, onValue: (value: unknown) => void): void {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    partial += chunk;
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        onValue(JSON.parse(line));
      } catch {
        // Not ours.
      }
    }
    // A line longer than any message of ours is not ours either.
    if (partial.length > 1024 * 1024) partial = "";
  });
  stream.on("error", () => {});
}
