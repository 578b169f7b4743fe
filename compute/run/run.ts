/**
 * One run of one dataset: build -> gates -> rows written by polars to the run's temp dir -> plan
 * (pages, hashes, item index) -> publish (new objects, the index, then the head by compare-and-swap) ->
 * publish notice. The serialized snapshot is never held whole in memory. Meant to run in a fresh, short-lived process
 * (compute/run/child.ts) so native polars memory is returned to the OS when it exits; `edgesnap run`
 * also calls it in-process for a one-shot run.
 *
 * Every exit path is a RunResult: failures are results (outcome "failed" or "rejected" with a
 * one-line reason), never a half-published snapshot. The run's temp dir and the store are released
 * in `finally` blocks, on every exit path.
 */
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import pl from "nodejs-polars";
import { collectLockMs, type Config } from "../config.ts";
import type { DataFrame, DatasetContext, DatasetDefinition, LazyDataFrame } from "../dataset/define.ts";
import { findDataset, loadRegistry } from "../dataset/registry.ts";
import { createSources } from "../dataset/sources.ts";
import { sendPublishNotice } from "../edge-client/notice.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import { writeFormats, type FormatFile } from "../publish/formats.ts";
import { planVersion, type VersionPlan } from "../publish/plan.ts";
import { publishVersion } from "../publish/publish.ts";
import { openStore, type ObjectStore } from "../storage/index.ts";
import type { Column, VersionSummary } from "../../contract/index.ts";
import { readHead, readIndex } from "../../contract/protocol/manifests.ts";
import { checkGates } from "./gates.ts";
import { createLogger, type Logger } from "./logger.ts";
import { failedResult, type RunResult } from "./result.ts";
import { inspectFrame, normalizeFrame, writeRowFiles } from "./serialize.ts";

export interface RunOptions {
  /** Store, edge and temp settings (the rest of Config is not used). */
  config: Pick<Config, "store" | "edgeUrl" | "token" | "tempRoot">;
  /** An already open store to use and leave open; by default the run opens config.store and closes it. */
  store?: ObjectStore;
  /**
   * The run's private dir, created if missing and removed when the run ends. Default: a fresh
   * mkdtemp under config.tempRoot.
   */
  tempDir?: string;
  /** Default: JSON lines on stderr tagged with the dataset name. */
  log?: Logger;
  /** Recorded as the version's run_id. */
  runId?: string;
  /** Stops the run before it publishes (the build itself is asked via ctx.signal). */
  signal?: AbortSignal;
  /** Send the publish notice after a new version (default true). */
  notify?: boolean;
  /**
   * An operator's forced rebuild: publish even when the content equals the current version, and
   * skip the row-count gates. Key integrity (present, non-null, unique) is still checked, because
   * item lookups depend on it.
   */
  force?: boolean;
  /** The lease fencing token the run holds (EDGESNAP_LEASE_TOKEN); its publish is refused once stale. */
  leaseToken?: number;
}

/** How long a run waits for its store to close before it gives up on it and finishes. */
const STORE_CLOSE_TIMEOUT_MS = 10_000;

export function isLazyFrame(value: unknown): value is LazyDataFrame {
  return typeof value === "object" && value !== null && typeof (value as LazyDataFrame).collect === "function" && !("height" in value);
}

function isDataFrame(value: unknown): value is DataFrame {
  return typeof value === "object" && value !== null && typeof (value as DataFrame).height === "number" && typeof (value as DataFrame).writeJSON === "function";
}

/**
 * Runs the dataset's build into a LazyFrame over its result (also used by preview.ts). A LazyFrame
 * is executed once, streamed by polars into an Arrow file in the run's temp dir and scanned back,
 * so the run never holds the whole result in memory; a DataFrame is used as it is. A build that
 * throws, a query that fails, or a result of another kind is a "build-failed" EdgesnapError.
 */
export async function buildFrame(definition: DatasetDefinition, ctx: Parameters<DatasetDefinition["build"]>[0]): Promise<LazyDataFrame> {
  let result: unknown;
  try {
    result = await definition.build(ctx);
    if (isLazyFrame(result)) {
      const materialized = path.join(ctx.tempDir, "frame.arrow");
      // The sink runs on polars' thread pool, keeping the event loop (and signals) alive.
      await result.sinkIpc(materialized, { compression: "uncompressed", maintainOrder: true }).collect();
      return pl.scanIPC(materialized);
    }
  } catch (error) {
    // A build that gave up because the run is being stopped failed for that reason, not its own.
    if (ctx.signal.aborted) throw stopped(ctx.signal);
    if (error instanceof EdgesnapError) throw error;
    throw new EdgesnapError("build-failed", `build failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  if (!isDataFrame(result)) {
    throw new EdgesnapError("build-failed", "build must return a polars DataFrame or LazyFrame");
  }
  return result.lazy();
}

function stopped(signal: AbortSignal): EdgesnapError {
  const reason: unknown = signal.reason;
  if (reason instanceof EdgesnapError) return reason;
  return new EdgesnapError("internal", `run stopped: ${reason instanceof Error ? reason.message : String(reason)}`);
}

async function createRunDir(options: RunOptions, dataset: string): Promise<string> {
  if (options.tempDir) {
    await mkdir(options.tempDir, { recursive: true });
    return options.tempDir;
  }
  await mkdir(options.config.tempRoot, { recursive: true });
  return mkdtemp(path.join(options.config.tempRoot, `${dataset}-`));
}

/** What a build turns into before anything is uploaded: the planned version, its columns and formats. */
interface BuiltVersion {
  plan: VersionPlan;
  columns: Column[];
  /** Writes the other formats; called only when the version is published, not for unchanged content. */
  formats: () => Promise<FormatFile[]>;
  generatedAt: Date;
}

/**
 * Build -> gates -> rows on disk -> plan (the other formats, compute/publish/formats.ts, are
 * written later, and only if the version is published). A
 * LazyFrame result is first written to an Arrow IPC file by polars' streaming engine (one
 * execution, bounded memory) and read back from it, so the facts query and the row files see the
 * same rows in the same order.
 */
async function buildVersion(
  definition: DatasetDefinition,
  options: RunOptions,
  ctx: DatasetContext,
  retained: readonly VersionSummary[],
  partial: Partial<RunResult>,
): Promise<BuiltVersion> {
  const { tempDir, log } = ctx;
  const buildStarted = performance.now();
  const frame = await buildFrame(definition, ctx);
  const generatedAt = new Date();
  const facts = await inspectFrame(frame, definition.key);
  partial.rows = facts.rows;
  checkGates(facts, definition, retained, { rowGates: !options.force });
  if (ctx.signal.aborted) throw stopped(ctx.signal);
  const rowsFile = path.join(tempDir, "rows.ndjson");
  const keysFile = path.join(tempDir, "keys.ndjson");
  const keyed = definition.key !== null;
  const normalized = normalizeFrame(frame, facts);
  await writeRowFiles(normalized, { rows: rowsFile, ...(keyed ? { keys: { file: keysFile, column: definition.key! } } : {}) });
  const plan = await planVersion({
    rowsFile,
    ...(keyed ? { keysFile, keyName: definition.key!, shardDir: path.join(tempDir, "shards") } : {}),
  });
  if (plan.rows !== facts.rows) throw new EdgesnapError("internal", `polars wrote ${plan.rows} rows of ${facts.rows}`);
  log.info("built", { rows: plan.rows, bytes: plan.bytes, pages: plan.pages.length, hash: plan.hash, buildMs: Math.round(performance.now() - buildStarted) });
  const formats = async () => {
    const started = performance.now();
    const files = await writeFormats({ frame, normalized, facts, rowsFile, dir: tempDir, formats: definition.formats, compress: definition.compress });
    log.info("formats written", { formats: Object.fromEntries(files.map((f) => [f.format, f.bytes])), formatsMs: Math.round(performance.now() - started) });
    return files;
  };
  return { plan, columns: facts.columns, formats, generatedAt };
}

/**
 * Runs one dataset once and publishes its snapshot unless it is unchanged.
 * Never throws for a failed run: the result says "failed" or "rejected" with a one-line reason.
 */
export async function runDataset(definition: DatasetDefinition, options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const log = options.log ?? createLogger({ fields: { dataset: definition.name, ...(options.runId ? { run: options.runId } : {}) } });
  const signal = options.signal ?? new AbortController().signal;
  const partial: Partial<RunResult> = {};
  let tempDir: string | undefined;
  let store: ObjectStore | undefined;
  // Also remove the temp dir if something calls process.exit() mid-run: wrangler's local runtime
  // exits the process on SIGTERM/SIGINT, skipping every finally block.
  const removeOnExit = () => {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  };
  process.once("exit", removeOnExit);
  try {
    tempDir = await createRunDir(options, definition.name);
    store = options.store ?? (await openStore(options.config));
    const state = await readHead(store, definition.name);
    const current = state?.value.head.current ?? null;
    const previous = current === null ? null : await readIndex(store, definition.name, current, state!.value);
    log.info("build started", { previous: previous?.version ?? null });
    const sources = createSources({ pl, tempDir, signal });
    const ctx = { pl, tempDir, log, previous, sources, signal };
    const { plan, columns, formats, generatedAt } = await buildVersion(definition, options, ctx, state?.value.head.versions ?? [], partial);
    Object.assign(partial, { rows: plan.rows, bytes: plan.bytes, hash: plan.hash });

    if (signal.aborted) throw stopped(signal);
    const published = await publishVersion(
      store,
      { dataset: definition.name, plan, columns, formats, compress: definition.compress, key: definition.key, generatedAt, runId: options.runId, facts: { description: definition.description, maxAgeSeconds: definition.maxAgeSeconds } },
      { log, head: state, signal, force: options.force, retain: definition.retain, collectLockMs: collectLockMs(), leaseToken: options.leaseToken },
    );
    const done = { rows: plan.rows, bytes: plan.bytes, hash: plan.hash, version: published.version, durationMs: elapsed(), code: null };
    if (published.outcome === "unchanged") {
      log.info("unchanged", { version: published.version });
      return { ...done, outcome: "unchanged", reason: `same content as ${published.version}` };
    }
    log.info("published", { version: published.version, pages: published.index?.pages.length, uploadedBytes: published.uploaded.bytes, reusedPages: published.uploaded.reusedPages });
    if (options.notify !== false) await notify(definition.name, published.version, options.config, log);
    return { ...done, outcome: "ok", reason: null };
  } catch (error) {
    const failure = toEdgesnapError(error);
    const result = failedResult(failure, elapsed(), { ...partial, version: null });
    log.error(result.outcome === "rejected" ? "rejected" : "failed", { code: failure.code, reason: result.reason });
    return result;
  } finally {
    process.off("exit", removeOnExit);
    if (store && !options.store) {
      // Bounded: a store whose runtime died or hangs must not keep a finished run from exiting.
      const closed = store.close().catch((error: unknown) => log.warn("closing the store failed", { error }));
      const timer = new Promise<"timeout">((resolve) => setTimeout(resolve, STORE_CLOSE_TIMEOUT_MS, "timeout").unref());
      if ((await Promise.race([closed, timer])) === "timeout") log.warn("closing the store timed out", { timeoutMs: STORE_CLOSE_TIMEOUT_MS });
    }
    if (tempDir) {
      await rm(tempDir, { recursive: true, force: true }).catch((error: unknown) => log.warn("removing the temp dir failed", { tempDir, error }));
    }
  }
}

/** Tells the edge about a new version; a failure is only a warning (the edge's cron catches up). */
async function notify(dataset: string, version: string, config: RunOptions["config"], log: Logger): Promise<void> {
  try {
    await sendPublishNotice({ dataset, version }, { edgeUrl: config.edgeUrl, token: config.token });
  } catch (error) {
    log.warn("publish notice failed; the edge will catch up on its next reconcile", { error });
  }
}

/**
 * Runs a dataset of the configured registry by name, in this process (`edgesnap run <dataset>`).
 * @throws {EdgesnapError} "config" when the registry or this dataset's own module cannot be loaded
 *   (another dataset's broken module does not matter); "unknown-dataset" when no dataset has that
 *   name. A failed run is a result, not a throw.
 */
export async function runDatasetByName(
  name: string,
  config: Pick<Config, "store" | "edgeUrl" | "token" | "tempRoot" | "datasets">,
  options: Omit<RunOptions, "config"> = {},
): Promise<RunResult> {
  // Only this dataset's module: another module that never finishes importing must not stop this run.
  const { definitions, broken } = await loadRegistry(config.datasets, { only: name });
  const definition = findDataset(definitions, name, broken);
  return runDataset(definition, { ...options, config });
}
