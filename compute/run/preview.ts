/**
 * A preview of one dataset (`edgesnap preview`): what a run would publish, without publishing. It
 * runs in the run child exactly as a run does (compute/run/child.ts, under the same supervisor,
 * timeout and memory ceiling) and builds the same way: build -> rows on disk -> the page plan. It
 * reads the store once (the current version, for `ctx.previous` and the row-drop gate) and writes
 * nothing to it, sends no publish notice, and leaves its report, a small JSON file, where the CLI
 * asked for it.
 *
 * Unlike a run, it checks every gate instead of stopping at the first, so the report names each
 * verdict; a rejected preview is still a "rejected" result (exit 5), like the run it stands for.
 */
import { createReadStream } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import pl from "nodejs-polars";
import type { Column, VersionSummary } from "../../contract/index.ts";
import { readHead, readIndex } from "../../contract/protocol/manifests.ts";
import type { Config } from "../config.ts";
import type { DatasetDefinition, LazyDataFrame } from "../dataset/define.ts";
import { findDataset, loadRegistry } from "../dataset/registry.ts";
import { createSources } from "../dataset/sources.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import { planVersion } from "../publish/plan.ts";
import { openStore } from "../storage/index.ts";
import { checkGates, referenceRows, ROW_DROP_WINDOW } from "./gates.ts";
import { createLogger } from "./logger.ts";
import { failedResult, type RunResult } from "./result.ts";
import { buildFrame } from "./run.ts";
import { inspectFrame, normalizeFrame, writeRowFiles, type FrameFacts } from "./serialize.ts";

/** How long the preview waits for its store to close before it goes on without it. */
const STORE_CLOSE_TIMEOUT_MS = 10_000;

/** Rows a preview shows unless asked for another number. */
export const DEFAULT_SAMPLE_ROWS = 10;

/** One gate's verdict. */
export interface GateVerdict {
  /** `minRows`, `maxRows`, `maxRowDropRatio` or `key`. */
  gate: string;
  ok: boolean;
  /** What was measured against what; for a failure, the gate's own message. */
  detail: string;
}

/** What a preview learned: the report the CLI prints. */
export interface PreviewReport {
  dataset: string;
  columns: Column[];
  rows: number;
  /** The first rows, exactly as the body would carry them. */
  sample: unknown[];
  gates: GateVerdict[];
  /** What a run would publish; null when a gate rejects the snapshot. */
  publish: {
    pages: { rows: number; bytes: number }[];
    bytes: number;
    hash: string;
    /** The current version, when the content is the same (a run would find it unchanged). */
    unchangedFrom: string | null;
  } | null;
  /** The version being served now, if any. */
  current: string | null;
}

export interface PreviewOptions {
  /** The run dir the supervisor made; removed by it. */
  tempDir: string;
  /** Where the report goes (written whole, then renamed). */
  reportFile: string;
  sampleRows?: number;
  signal?: AbortSignal;
}

/**
 * Each gate's verdict, with the gates' own code (one check at a time), so a preview names every
 * gate and not only the first that fails. Pure.
 */
export function gateVerdicts(facts: FrameFacts, definition: Pick<DatasetDefinition, "key" | "gates">, retained: readonly VersionSummary[]): GateVerdict[] {
  const { minRows, maxRows, maxRowDropRatio } = definition.gates;
  const verdict = (gate: string, check: () => void, passed: string): GateVerdict => {
    try {
      check();
      return { gate, ok: true, detail: passed };
    } catch (error) {
      if (!(error instanceof EdgesnapError) || error.code !== "gate-rejected") throw error;
      return { gate, ok: false, detail: error.message.replace(/^gate: /, "") };
    }
  };
  const rowsOnly = (gates: Partial<DatasetDefinition["gates"]>, against: readonly VersionSummary[] = []) => () =>
    checkGates(facts, { key: null, gates: { minRows: 0, ...gates } }, against);
  const verdicts = [verdict("minRows", rowsOnly({ minRows }), `${facts.rows} rows, at least ${minRows}`)];
  if (maxRows !== undefined) verdicts.push(verdict("maxRows", rowsOnly({ maxRows }), `${facts.rows} rows, at most ${maxRows}`));
  if (maxRowDropRatio !== undefined) {
    const reference = referenceRows(retained);
    const passed = reference === null ? "nothing published yet to compare with" : `${facts.rows} rows against ${reference}, the most of the last ${ROW_DROP_WINDOW} versions`;
    verdicts.push(verdict("maxRowDropRatio", rowsOnly({ maxRowDropRatio }, retained), passed));
  }
  if (definition.key !== null) {
    const key = definition.key;
    verdicts.push(verdict("key", () => checkGates(facts, { key, gates: { minRows: 0 } }, []), `"${key}" present, no null, no NaN, no duplicate`));
  }
  return verdicts;
}

/** The first `count` lines of an NDJSON file, parsed. */
async function readSample(file: string, count: number): Promise<unknown[]> {
  const sample: unknown[] = [];
  if (count <= 0) return sample;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line === "") continue;
      sample.push(JSON.parse(line));
      if (sample.length >= count) break;
    }
  } finally {
    lines.close();
  }
  return sample;
}

/** Reads the current version and the retained ones; the store is opened, read and closed. */
async function readPublished(definition: DatasetDefinition, config: Pick<Config, "store" | "edgeUrl" | "token">) {
  const store = await openStore(config);
  try {
    const state = await readHead(store, definition.name);
    const current = state?.value.head.current ?? null;
    return { previous: current === null ? null : await readIndex(store, definition.name, current, state!.value), retained: state?.value.head.versions ?? [] };
  } finally {
    // Bounded, as a run's: a store whose runtime died must not keep the preview from finishing.
    await Promise.race([store.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, STORE_CLOSE_TIMEOUT_MS).unref())]);
  }
}

/**
 * Builds a dataset as a run would and writes the report; publishes nothing.
 * Never throws for a failed build: the result says "failed" (or "rejected" for a gate) with a reason.
 */
export async function previewDataset(definition: DatasetDefinition, config: Pick<Config, "store" | "edgeUrl" | "token">, options: PreviewOptions): Promise<RunResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const log = createLogger({ fields: { dataset: definition.name, preview: true } });
  const signal = options.signal ?? new AbortController().signal;
  try {
    const { tempDir } = options;
    await mkdir(tempDir, { recursive: true });
    const { previous, retained } = await readPublished(definition, config);
    const ctx = { pl, tempDir, log, previous, sources: createSources({ pl, tempDir, signal }), signal };
    // As a run does: a LazyFrame is executed once, into an Arrow file read back lazily.
    const frame = await buildFrame(definition, ctx);
    const facts = await inspectFrame(frame, definition.key);
    const gates = gateVerdicts(facts, definition, retained);
    const report = await planPreview(definition, frame, facts, gates, { tempDir, sampleRows: options.sampleRows ?? DEFAULT_SAMPLE_ROWS });
    report.current = previous?.version ?? null;
    if (report.publish) report.publish.unchangedFrom = previous && previous.hash === report.publish.hash ? previous.version : null;
    await writeReport(options.reportFile, report);
    const failed = report.gates.find((gate) => !gate.ok);
    const done = { rows: facts.rows, bytes: report.publish?.bytes ?? null, hash: report.publish?.hash ?? null, version: null, durationMs: elapsed() };
    if (failed) return { ...done, outcome: "rejected", reason: `gate ${failed.gate}: ${failed.detail}`, code: "gate-rejected" };
    return { ...done, outcome: "ok", reason: "preview: nothing published", code: null };
  } catch (error) {
    const failure = toEdgesnapError(error);
    log.error("failed", { code: failure.code, reason: failure.message });
    return failedResult(failure, elapsed());
  }
}

/** Writes the rows as a run does, then the page plan unless a gate refused the snapshot. */
async function planPreview(
  definition: DatasetDefinition,
  frame: LazyDataFrame,
  facts: FrameFacts,
  gates: GateVerdict[],
  options: { tempDir: string; sampleRows: number },
): Promise<PreviewReport> {
  const rowsFile = path.join(options.tempDir, "rows.ndjson");
  const keysFile = path.join(options.tempDir, "keys.ndjson");
  const keyed = definition.key !== null && facts.key !== null;
  await writeRowFiles(normalizeFrame(frame, facts), { rows: rowsFile, ...(keyed ? { keys: { file: keysFile, column: definition.key! } } : {}) });
  const report: PreviewReport = { dataset: definition.name, columns: facts.columns, rows: facts.rows, sample: await readSample(rowsFile, options.sampleRows), gates, publish: null, current: null };
  if (gates.some((gate) => !gate.ok)) return report;
  try {
    const plan = await planVersion({ rowsFile, ...(keyed ? { keysFile, keyName: definition.key!, shardDir: path.join(options.tempDir, "shards") } : {}) });
    report.publish = { pages: plan.pages.map((page) => ({ rows: page.rows, bytes: page.bytes })), bytes: plan.bytes, hash: plan.hash, unchangedFrom: null };
  } catch (error) {
    // Each key's own form is checked as the plan reads it: a failure there is the key gate's.
    if (!(error instanceof EdgesnapError) || error.code !== "gate-rejected") throw error;
    const key = gates.find((gate) => gate.gate === "key");
    if (key) Object.assign(key, { ok: false, detail: error.message.replace(/^gate: /, "") });
    else gates.push({ gate: "key", ok: false, detail: error.message.replace(/^gate: /, "") });
  }
  return report;
}

/** Written beside and renamed: the CLI never reads half a report. */
async function writeReport(file: string, report: PreviewReport): Promise<void> {
  const partial = `${file}.partial`;
  await writeFile(partial, JSON.stringify(report));
  await rename(partial, file);
}

/**
 * Previews a dataset of the configured registry by name, in this process (the run child does it).
 * @throws {EdgesnapError} as runDatasetByName does, before anything is built
 */
export async function previewDatasetByName(
  name: string,
  config: Pick<Config, "store" | "edgeUrl" | "token" | "datasets">,
  options: PreviewOptions,
): Promise<RunResult> {
  const { definitions, broken } = await loadRegistry(config.datasets);
  return previewDataset(findDataset(definitions, name, broken), config, options);
}
