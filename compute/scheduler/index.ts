/**
 * The scheduler: cron schedules and manual triggers in, one fresh child process per run out. It
 * never builds anything itself (it never loads polars), so it stays small and flat for months while
 * each heavy run lives and dies in its own process (seed 000: a heartbeat, not a staircase).
 *
 * Per dataset at most one run at a time; a trigger during a run becomes one follow-up run, more
 * triggers fold into that one. A global limit caps concurrent runs. Failed runs are retried a
 * bounded number of times with exponential backoff; a fresh trigger replaces a pending retry.
 *
 * Zombies: Node reaps its own children (libuv waits for each pid it spawned). Grandchildren that a
 * run leaves behind are killed with the run's process group, but once orphaned they are reparented
 * to PID 1, which must reap them. In a container run the scheduler under an init that does
 * (`docker run --init`, or `tini` as the ENTRYPOINT: `ENTRYPOINT ["tini", "--", "node", ...]`).
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Cron } from "croner";
import { isDatasetName } from "../../contract/names.ts";
import { makeRunId, type RunOutcome, type RunRecord, type RunTrigger } from "../../contract/run-record.ts";
import type { Config } from "../config.ts";
import { EdgesnapError } from "../errors.ts";
import { startStatusServer, type StatusServer } from "./http.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { DEFAULT_RECORDS_PER_DATASET, RunRecordRing, type RecordSink } from "./records.ts";
import { failedRun, superviseRun, type SupervisedRun } from "./supervise.ts";
import { sweepRunCgroups } from "./cgroup.ts";
import { measureDiskUsage, prepareTempRoot, sweepTempRoot } from "./temp-root.ts";

export { storeRecordSink, type RecordSink } from "./records.ts";

/** What the scheduler needs of a dataset definition (the registry's entries have more). */
export interface ScheduledDataset {
  name: string;
  /** Cron expression (5 or 6 fields), read in the configured timezone. */
  schedule: string;
  limits?: { timeoutMs?: number; memoryBytes?: number };
}

/** One JSON log line: `{ time, level, event, ...fields }`. */
export interface LogEntry {
  time: string;
  level: "info" | "warn" | "error";
  event: string;
  [field: string]: unknown;
}

export type SchedulerLog = (entry: LogEntry) => void;

/** Facts about a run that are not part of its record. */
export interface RunDetails {
  pid: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  spawnToFirstOutputMs: number | null;
  /** Every process seen in the run (pid, pgrp, start time). */
  processes: { pid: number; pgrp: number; startTime: number }[];
}

export const DEFAULT_TIMEOUT_MS = 90_000;
export const DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_BACKOFF_MS = 10_000;
export const DEFAULT_KILL_GRACE_MS = 5_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;
/** Outcomes worth another attempt; a gate rejection or a cancelled run would only repeat. */
const RETRYABLE: ReadonlySet<RunOutcome> = new Set(["failed", "timed-out", "memory-killed"]);

export interface SchedulerOptions {
  config: Pick<Config, "tempRoot" | "metricsPort" | "concurrency" | "timezone">;
  datasets: readonly ScheduledDataset[];
  /** Script each run executes as `node <entry> <dataset>`. Default `compute/run/child.ts`. */
  childEntry?: string | ((dataset: string) => string);
  /** Working directory of the children. Default: the repository root. */
  cwd?: string;
  /** Extra environment for the children. */
  env?: NodeJS.ProcessEnv;
  /** Extra Node flags for the children (the V8 heap cap is always added). */
  execArgv?: string[];
  /** Publish every dataset once at start. Default false. */
  runAtStart?: boolean;
  /** Default: one JSON line per event on stdout. */
  log?: SchedulerLog;
  onRunFinished?: (record: RunRecord, details: RunDetails) => void;
  /** Persists records (best effort); see `storeRecordSink`. */
  recordSink?: RecordSink;
  /** Retries after a failed, timed-out or memory-killed run. Default 2. */
  retries?: number;
  /** Delay before the first retry, doubled for each further one. Default 10 s. */
  retryBackoffMs?: number;
  /** SIGTERM to SIGKILL for a run that times out or is stopped. Default 5 s. */
  killGraceMs?: number;
  /** How long `stop()` lets running children finish before stopping them. Default 30 s. */
  shutdownGraceMs?: number;
  defaultTimeoutMs?: number;
  defaultMemoryBytes?: number;
  /** Memory sampling period. Default 100 ms. */
  sampleIntervalMs?: number;
  /** Interface /healthz and /metrics listen on. Default 127.0.0.1. */
  metricsHost?: string;
  recordsPerDataset?: number;
}

export interface TriggerOptions {
  /** Publish even when the content is unchanged, and skip the row-count gates. */
  force?: boolean;
}

/** What `trigger` did: started a run now, queued one, or folded into one already queued. */
export type TriggerResult = "started" | "queued" | "coalesced" | "stopped";

export interface Scheduler {
  /** Port of /healthz and /metrics. */
  port: number;
  /**
   * Asks for a run. `force` makes the run publish even unchanged content and skip the row gates
   * (it is kept when the trigger is coalesced into a pending run).
   * @throws {EdgesnapError} "unknown-dataset" for a name not in the registry.
   */
  trigger(name: string, trigger?: RunTrigger, requestId?: string | null, options?: TriggerOptions): TriggerResult;
  /** The dataset's kept records, oldest first. */
  records(name: string): RunRecord[];
  /** Resolves when no run is running, queued or waiting for a retry. */
  idle(): Promise<void>;
  /**
   * Stops scheduling, lets running children finish within the shutdown grace period, then stops
   * them (SIGTERM, grace, SIGKILL; outcome `cancelled`), closes the port. Safe to call twice; a
   * second call with `graceMs: 0` cuts the wait short.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

interface Request {
  trigger: RunTrigger;
  requestId: string | null;
  attempt: number;
  force: boolean;
}

interface DatasetState {
  dataset: ScheduledDataset;
  running: { abort: AbortController; done: Promise<void> } | null;
  /** The next run asked for and not yet started (coalescing point). */
  next: Request | null;
  retryTimer: NodeJS.Timeout | null;
}

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/** Writes each entry as one JSON line on stdout. */
export function jsonLineLog(entry: LogEntry): void {
  process.stdout.write(`${JSON.stringify(entry)}\n`);
}

/**
 * Starts the scheduler: checks and sweeps the temp root, binds /healthz and /metrics, arms the cron schedules
 * and, with `runAtStart`, triggers every dataset once.
 * @throws {EdgesnapError} "config" for a malformed dataset name, a duplicate, a bad cron
 *   expression or timezone, or a temp root runs cannot use; the listen error if the port is taken.
 */
export async function startScheduler(options: SchedulerOptions): Promise<Scheduler> {
  const { config } = options;
  const writeLog = options.log ?? jsonLineLog;
  const log = (level: LogEntry["level"], event: string, fields: Record<string, unknown> = {}) => {
    try {
      writeLog({ time: new Date().toISOString(), level, event, ...fields });
    } catch {
      // A broken log sink must not take the scheduler down.
    }
  };
  const retries = options.retries ?? DEFAULT_RETRIES;
  const backoff = options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const cwd = options.cwd ?? REPO_ROOT;
  const entryFor = (dataset: string) => {
    const entry = typeof options.childEntry === "function" ? options.childEntry(dataset) : options.childEntry;
    return path.resolve(cwd, entry ?? "compute/run/child.ts");
  };

  const states = new Map<string, DatasetState>();
  for (const dataset of options.datasets) {
    if (!isDatasetName(dataset.name)) throw new EdgesnapError("config", `invalid dataset name "${dataset.name}"`);
    if (states.has(dataset.name)) throw new EdgesnapError("config", `dataset "${dataset.name}" is defined twice`);
    states.set(dataset.name, { dataset, running: null, next: null, retryTimer: null });
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: config.timezone });
  } catch (error) {
    throw new EdgesnapError("config", `unknown timezone "${config.timezone}"`, { cause: error });
  }
  // Parse every schedule before anything starts, so a typo stops the process with one message.
  const crons: Cron[] = [];
  for (const { dataset } of states.values()) {
    try {
      crons.push(new Cron(dataset.schedule, { timezone: config.timezone, paused: true, catch: true, name: `edgesnap:${dataset.name}` }));
    } catch (error) {
      for (const cron of crons) cron.stop();
      throw new EdgesnapError("config", `dataset "${dataset.name}": invalid schedule "${dataset.schedule}" (${(error as Error).message})`, { cause: error });
    }
  }
  for (const cron of crons) cron.stop();

  // Only what a dead owner left: run dirs and cgroups of live runs (another scheduler sharing the
  // root, a one-shot run) are never touched.
  await prepareTempRoot(config.tempRoot);
  const swept = await sweepTempRoot(config.tempRoot);
  if (swept.length > 0) log("warn", "temp-root-swept", { tempRoot: config.tempRoot, removed: swept.length });
  const sweptCgroups = sweepRunCgroups();
  if (sweptCgroups.length > 0) log("warn", "run-cgroups-swept", { removed: sweptCgroups.length });

  const metrics = new SchedulerMetrics();
  const ring = new RunRecordRing(options.recordsPerDataset ?? DEFAULT_RECORDS_PER_DATASET);
  const waiting: string[] = [];
  const sinks = new Set<Promise<void>>();
  let idleWaiters: (() => void)[] = [];
  let stopping: Promise<void> | null = null;
  let cutShort: (() => void) | null = null;
  let runningCount = 0;

  const isIdle = () =>
    waiting.length === 0 && [...states.values()].every((s) => !s.running && !s.next && !s.retryTimer);
  const notifyIdle = () => {
    if (!isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  const pump = () => {
    while (!stopping && runningCount < config.concurrency && waiting.length > 0) {
      const state = states.get(waiting.shift()!)!;
      if (!state.running && state.next) startRun(state);
    }
  };

  const enqueue = (state: DatasetState) => {
    if (!state.running && !waiting.includes(state.dataset.name)) waiting.push(state.dataset.name);
    pump();
  };

  const startRun = (state: DatasetState) => {
    const request = state.next!;
    state.next = null;
    const { dataset } = state;
    const abort = new AbortController();
    const startedAt = new Date();
    const id = makeRunId(startedAt, randomBytes(4).toString("hex"));
    runningCount++;
    const common = { dataset: dataset.name, run: id, trigger: request.trigger, attempt: request.attempt };
    const done = superviseRun({
      dataset: dataset.name,
      childEntry: entryFor(dataset.name),
      tempRoot: config.tempRoot,
      timeoutMs: dataset.limits?.timeoutMs ?? options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      memoryBytes: dataset.limits?.memoryBytes ?? options.defaultMemoryBytes ?? DEFAULT_MEMORY_BYTES,
      killGraceMs,
      sampleIntervalMs: options.sampleIntervalMs,
      cwd,
      env: { ...options.env, EDGESNAP_RUN_ID: id, ...(request.force ? { EDGESNAP_FORCE: "1" } : {}) },
      execArgv: options.execArgv,
      signal: abort.signal,
      onSpawn: (pid) => log("info", "run-started", { ...common, pid, requestId: request.requestId }),
      onOutput: (stream, line) => log("info", "child-output", { dataset: dataset.name, run: id, stream, line }),
    })
      .catch((error: unknown): SupervisedRun =>
        failedRun(`could not prepare the run: ${(error as Error).message}`, Date.now() - startedAt.getTime()),
      )
      .then((run) => finishRun(state, request, id, startedAt, run));
    state.running = { abort, done };
  };

  const finishRun = (state: DatasetState, request: Request, id: string, startedAt: Date, run: SupervisedRun) => {
    runningCount--;
    state.running = null;
    const willRetry = !stopping && !state.next && RETRYABLE.has(run.outcome) && request.attempt <= retries;
    const record: RunRecord = {
      id,
      dataset: state.dataset.name,
      trigger: request.trigger,
      request_id: request.requestId,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      outcome: run.outcome,
      reason: run.reason,
      duration_ms: Math.round(run.durationMs),
      peak_rss_bytes: run.peakRssBytes,
      rows: run.rows,
      bytes: run.bytes,
      version: run.version,
      attempt: request.attempt,
      will_retry: willRetry,
    };
    ring.add(record);
    metrics.recordRun(record);
    log(record.outcome === "ok" || record.outcome === "unchanged" ? "info" : "warn", "run-finished", {
      dataset: record.dataset,
      run: id,
      trigger: record.trigger,
      attempt: record.attempt,
      outcome: record.outcome,
      reason: record.reason,
      durationMs: record.duration_ms,
      peakRssBytes: record.peak_rss_bytes,
      rows: record.rows,
      bytes: record.bytes,
      version: record.version,
      exitCode: run.exitCode,
      exitSignal: run.exitSignal,
      droppedOutputLines: run.droppedOutputLines,
    });
    try {
      options.onRunFinished?.(record, {
        pid: run.pid,
        exitCode: run.exitCode,
        exitSignal: run.exitSignal,
        spawnToFirstOutputMs: run.spawnToFirstOutputMs,
        processes: run.processes.map(({ pid, pgrp, startTime }) => ({ pid, pgrp, startTime })),
      });
    } catch (error) {
      log("error", "hook-failed", { dataset: record.dataset, run: id, message: (error as Error).message });
    }
    if (options.recordSink) {
      const write = options.recordSink(record)
        .catch((error: unknown) => log("warn", "record-sink-failed", { dataset: record.dataset, run: id, message: (error as Error).message }))
        .finally(() => sinks.delete(write));
      sinks.add(write);
    }
    if (!stopping) {
      if (state.next) enqueue(state);
      else if (willRetry) {
        const delayMs = backoff * 2 ** (request.attempt - 1);
        metrics.recordRetry(state.dataset.name);
        log("info", "retry-scheduled", { dataset: state.dataset.name, attempt: request.attempt + 1, delayMs });
        state.retryTimer = setTimeout(() => {
          state.retryTimer = null;
          if (stopping || state.next) return notifyIdle();
          state.next = { trigger: "retry", requestId: request.requestId, attempt: request.attempt + 1, force: request.force };
          enqueue(state);
        }, delayMs);
      }
    }
    pump();
    notifyIdle();
  };

  const trigger = (name: string, kind: RunTrigger = "manual", requestId: string | null = null, triggerOptions: TriggerOptions = {}): TriggerResult => {
    const force = triggerOptions.force === true;
    const state = states.get(name);
    if (!state) throw new EdgesnapError("unknown-dataset", `unknown dataset "${name}"`);
    if (stopping) return "stopped";
    if (state.retryTimer) {
      // A fresh run replaces the pending retry: the next run starts from attempt 1.
      clearTimeout(state.retryTimer);
      state.retryTimer = null;
    }
    if (state.next) {
      state.next.requestId ??= requestId;
      state.next.force ||= force;
      metrics.recordCoalesced(name);
      log("info", "trigger-coalesced", { dataset: name, trigger: kind, requestId });
      return "coalesced";
    }
    state.next = { trigger: kind, requestId, attempt: 1, force };
    if (state.running) return "queued";
    enqueue(state);
    return state.running ? "started" : "queued";
  };

  const server: StatusServer = await startStatusServer({
    host: options.metricsHost ?? "127.0.0.1",
    port: config.metricsPort,
    health: () => ({ ok: !stopping, status: stopping ? "stopping" : "ok", running: runningCount, waiting: waiting.length }),
    metrics: async () =>
      metrics.render({ running: runningCount, waiting: waiting.length, tempRootBytes: await measureDiskUsage(config.tempRoot) }),
    onError: (error) => log("error", "status-server-error", { message: (error as Error).message }),
  });

  for (const { dataset } of states.values()) {
    crons.push(
      new Cron(dataset.schedule, { timezone: config.timezone, catch: true, name: `edgesnap:${dataset.name}:run` }, () => {
        trigger(dataset.name, "schedule");
      }),
    );
  }
  log("info", "scheduler-started", {
    port: server.port,
    datasets: [...states.keys()],
    tempRoot: config.tempRoot,
    concurrency: config.concurrency,
    timezone: config.timezone,
  });
  if (options.runAtStart) for (const name of states.keys()) trigger(name, "startup");

  const stop = (stopOptions: { graceMs?: number } = {}): Promise<void> => {
    if (stopping) {
      if (stopOptions.graceMs === 0) cutShort?.();
      return stopping;
    }
    stopping = (async () => {
      log("info", "scheduler-stopping", { running: runningCount });
      for (const cron of crons) cron.stop();
      waiting.length = 0;
      for (const state of states.values()) {
        state.next = null;
        if (state.retryTimer) clearTimeout(state.retryTimer);
        state.retryTimer = null;
      }
      const running = [...states.values()].flatMap((s) => (s.running ? [s.running] : []));
      const allDone = Promise.all(running.map((r) => r.done));
      const graceMs = stopOptions.graceMs ?? options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        cutShort = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([allDone, graceOver]);
      clearTimeout(timer);
      for (const r of running) r.abort.abort();
      await allDone;
      // Records still being persisted get a few seconds; an unref'd timer never holds the exit.
      await Promise.race([Promise.all(sinks), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      await server.close();
      log("info", "scheduler-stopped", {});
      notifyIdle();
    })();
    return stopping;
  };

  return {
    port: server.port,
    trigger,
    records: (name) => ring.list(name),
    idle: () => (isIdle() ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    stop,
  };
}

/**
 * Runs the scheduler until SIGTERM or SIGINT, then stops it (a second signal skips the grace
 * period) and resolves; the caller exits 0. What `edgesnap scheduler` and the container run.
 */
export async function runSchedulerUntilSignal(options: SchedulerOptions): Promise<void> {
  const scheduler = await startScheduler(options);
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      signals++;
      scheduler.stop(signals > 1 ? { graceMs: 0 } : {}).then(() => {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        resolve();
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
