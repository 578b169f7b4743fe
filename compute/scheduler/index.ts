/**
 * The scheduler: cron schedules and manual triggers in, one fresh child process per run out. It
 * never builds anything itself (it never loads polars), so it stays small and flat for months while
 * each heavy run lives and dies in its own process: its memory is a heartbeat, not a staircase
 * (measured with nodejs-polars, which frees native memory only between event-loop turns: one
 * process building in a loop grew from 58 MB to 16.6 GB over 200 builds, while a parent spawning
 * a child per run stayed at 41-47 MB over 50 runs).
 *
 * What runs when (coalescing, the concurrency limit, retries and backoff) is decided by the pure
 * state machine in state.ts; this module is the process side around it: cron timers, retry timers,
 * supervised children, records, logs and the status port.
 *
 * Zombies: Node reaps its own children (libuv waits for each pid it spawned). Grandchildren that a
 * run leaves behind are killed with the run's process group, but once orphaned they are reparented
 * to PID 1, which must reap them. In a container run the scheduler under an init that does
 * (`docker run --init`, or `tini` as the ENTRYPOINT: `ENTRYPOINT ["tini", "--", "node", ...]`).
 */
import path from "node:path";
import { Cron } from "croner";
import { isDatasetName } from "../../contract/names.ts";
import { confirmsContent, type RunRecord, type RunTrigger } from "../../contract/run-record.ts";
import { applyDatasetOverrides, childRunEnv, CONFIG_ENV, DEFAULT_LEASE_SECONDS, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS, type Config } from "../config.ts";
import type { RegistryProbe } from "../dataset/registry.ts";
import type { AcquireResult } from "../../contract/protocol/leases.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { EdgesnapError } from "../errors.ts";
import { childEntryOf, logEntry, safeSink, writeLog, type LogEntry, type LogSink } from "../run/logger.ts";
import { sweepRunCgroups } from "./cgroup.ts";
import { FailureStreaks } from "./health.ts";
import { startStatusServer, type StatusServer } from "./http.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { defaultHolder, LeaseKeeper, leaseModeOf } from "./leases.ts";
import { watchRegistry, type RegistryWatch } from "./registry-watch.ts";
import { diffRegistry, isEmptyDiff, type ReloadableDataset } from "./reload.ts";
import { DEFAULT_RECORDS_PER_DATASET, newRunId, RunRecordRing, runRecordOf, unstartedRunRecord, type RecordSink } from "./records.ts";
import { SchedulerState, type RunRequest, type SchedulerEffect, type TriggerResult } from "./state.ts";
import { DEFAULT_KILL_GRACE_MS, failedRun, superviseRun, type SupervisedRun } from "./supervise.ts";
import { measureDiskUsage, prepareTempRoot, sweepTempRoot } from "./temp-root.ts";

export { storeRecordSink, type RecordSink } from "./records.ts";
export type { TriggerResult } from "./state.ts";

/** What the scheduler needs of a dataset definition (the registry's entries have more). */
export interface ScheduledDataset {
  name: string;
  /** Cron expression (5 or 6 fields), read in the configured timezone. */
  schedule: string;
  limits?: { timeoutMs?: number; memoryBytes?: number };
  /** The module that defines it, when known (a change to it reruns the dataset once). */
  file?: string | null;
}

export type { LogEntry } from "../run/logger.ts";

/** Where the scheduler's log entries go (tests collect them; by default `writeLog`). */
export type SchedulerLog = LogSink;

/** A dataset the registry names but whose module failed to load. */
export interface UnloadableDataset {
  name: string;
  /** One line: the module's file and its error. */
  reason: string;
}

/** Facts about a run that are not part of its record. */
export interface RunDetails {
  pid: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  spawnToFirstOutputMs: number | null;
  /** Every process seen in the run (pid, pgrp, start time). */
  processes: { pid: number; pgrp: number; startTime: number }[];
}

export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_BACKOFF_MS = 10_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;
/** How long `stop()` waits for records still being persisted. */
const SINK_GRACE_MS = 5_000;

export interface SchedulerOptions {
  /**
   * With `datasets` (the registry module, as `loadConfig` reads it), the scheduler watches the
   * registry and its modules and applies a change without a restart (registry-watch.ts):
   * `schedules` and `limits` are applied to what it reads again, as at start.
   */
  config: Pick<Config, "tempRoot" | "metricsPort" | "concurrency" | "timezone"> &
    Partial<Pick<Config, "datasets" | "schedules" | "limits" | "moduleTimeoutMs" | "store" | "leases" | "leaseSeconds">>;
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
  /**
   * Datasets whose module could not be loaded: each gets a failed run record at start, and a
   * trigger for one is refused with its reason (the others run as usual).
   */
  unloadable?: readonly UnloadableDataset[];
  /** Default: one JSON line per event on stdout. */
  log?: SchedulerLog;
  onRunFinished?: (record: RunRecord, details: RunDetails) => void;
  /** Persists records (best effort); see `storeRecordSink`. */
  recordSink?: RecordSink;
  /**
   * Share the work with other schedulers on the same store: a run takes its dataset's lease first
   * and is skipped when another scheduler holds it or already ran its cron slot. Default: none.
   */
  leases?: SchedulerLeaseOptions;
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
  /**
   * When the metrics port is taken, listen on any free port instead and log which (`npm start`,
   * where two starts on one machine would otherwise collide on 9464). Default false: a taken port
   * stops the scheduler, naming EDGESNAP_METRICS_PORT (a container's probes need the one port).
   */
  metricsPortFallback?: boolean;
  recordsPerDataset?: number;
}

export interface TriggerOptions {
  /** Publish even when the content is unchanged, and skip the row-count gates. */
  force?: boolean;
  /** The cron slot (ISO) a scheduled or start-up trigger is for: with leases, each slot runs once. */
  slot?: string;
}

/** Leases in a store shared by several schedulers (compute/scheduler/leases.ts). */
export interface SchedulerLeaseOptions {
  store: ObjectStore;
  /** This scheduler's name in the leases. Default: host, pid and a random part. */
  holder?: string;
  /** The lease period. Default 30 s. */
  periodMs?: number;
}

export interface Scheduler {
  /** Port of /healthz and /metrics. */
  port: number;
  /**
   * Asks for a run. `force` makes the run publish even unchanged content and skip the row gates
   * (it is kept when the trigger is coalesced into a pending run); `requestId` names the operator
   * request behind it, and the run's record lists every request coalesced into it.
   * @throws {EdgesnapError} "unknown-dataset" for a name not in the registry; "config" for a
   *   dataset whose module failed to load.
   */
  trigger(name: string, trigger?: RunTrigger, requestId?: string | null, options?: TriggerOptions): TriggerResult;
  /** The dataset's kept records, oldest first. */
  records(name: string): RunRecord[];
  /** Every dataset this scheduler is responsible for: the scheduled ones and those whose module does not load. */
  datasets(): string[];
  /** Whether an operator's request for the dataset can be taken now (with leases: no other scheduler holds it). */
  canTakeRequest(dataset: string): Promise<boolean>;
  /** Resolves when no run is running, queued or waiting for a retry. */
  idle(): Promise<void>;
  /**
   * Stops scheduling, lets running children finish within the shutdown grace period, then stops
   * them (SIGTERM, grace, SIGKILL; outcome `cancelled`), closes the port. Safe to call twice; a
   * second call with `graceMs: 0` cuts the wait short.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

type Log = (level: LogEntry["level"], event: string, fields?: Record<string, unknown>) => void;

/** A log function that stamps the time and survives a broken sink. */
export function safeLog(write: SchedulerLog): Log {
  const sink = safeSink(write);
  return (level, event, fields = {}) => sink(logEntry(level, event, fields));
}

/**
 * Starts the scheduler: checks and sweeps the temp root, binds /healthz and /metrics, arms the cron schedules
 * and, with `runAtStart`, triggers every dataset once.
 * @throws {EdgesnapError} "config" for a malformed dataset name, a duplicate, a bad cron
 *   expression or timezone, or a temp root runs cannot use; naming EDGESNAP_METRICS_PORT when the
 *   port is taken (unless `metricsPortFallback`) or cannot be used.
 */
export async function startScheduler(options: SchedulerOptions): Promise<Scheduler> {
  const sink = safeSink(options.log ?? writeLog);
  const log = safeLog(sink);
  checkDatasets(options.datasets, options.config.timezone);
  await sweepLeftovers(options.config.tempRoot, log);
  const scheduler = new ProcessScheduler(options, log, sink);
  const host = options.metricsHost ?? "127.0.0.1";
  await scheduler.listen(host);
  scheduler.armSchedules();
  log("info", "scheduler-started", {
    port: scheduler.port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${scheduler.port}`,
    datasets: options.datasets.map((d) => d.name),
    tempRoot: options.config.tempRoot,
    concurrency: options.config.concurrency,
    timezone: options.config.timezone,
  });
  for (const broken of options.unloadable ?? []) scheduler.recordUnloadable(broken, "startup");
  // With leases, the start-up run claims the latest cron slot: of several schedulers starting
  // together (or one restarted), only the first runs it, and not again if the slot already ran.
  if (options.runAtStart) for (const { name, schedule } of options.datasets) scheduler.trigger(name, "startup", null, { slot: options.leases ? latestSlot(schedule, options.config.timezone) : undefined });
  if (options.config.datasets) scheduler.watch(options.config.datasets);
  return scheduler;
}

/** The latest time (ISO) a cron schedule fired at or before `now`: the slot a trigger now stands for. */
export function latestSlot(schedule: string, timezone: string, now = new Date()): string | undefined {
  // previousRuns finds runs strictly before its reference, to the second (croner drops the
  // milliseconds): a second on, a run at `now`'s second counts.
  return new Cron(schedule, { timezone, paused: true }).previousRuns(1, new Date(now.getTime() + 1000))[0]?.toISOString();
}

/**
 * Refuses malformed or duplicate names, an unknown timezone and any schedule croner cannot parse,
 * before anything starts, so a typo stops the process with one message.
 */
function checkDatasets(datasets: readonly ScheduledDataset[], timezone: string): void {
  const seen = new Set<string>();
  for (const dataset of datasets) {
    if (!isDatasetName(dataset.name)) throw new EdgesnapError("config", `invalid dataset name "${dataset.name}"`);
    if (seen.has(dataset.name)) throw new EdgesnapError("config", `dataset "${dataset.name}" is defined twice`);
    seen.add(dataset.name);
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch (error) {
    throw new EdgesnapError("config", `unknown timezone "${timezone}"`, { cause: error });
  }
  for (const dataset of datasets) {
    try {
      // Paused and without a callback: parses, never fires.
      new Cron(dataset.schedule, { timezone, paused: true, catch: true }).stop();
    } catch (error) {
      throw new EdgesnapError("config", `dataset "${dataset.name}": invalid schedule "${dataset.schedule}" (${(error as Error).message})`, { cause: error });
    }
  }
}

/**
 * Removes only what a dead owner left: run dirs and cgroups of live runs (another scheduler
 * sharing the root, a one-shot run) are never touched.
 */
async function sweepLeftovers(tempRoot: string, log: Log): Promise<void> {
  await prepareTempRoot(tempRoot);
  const swept = await sweepTempRoot(tempRoot);
  if (swept.length > 0) log("warn", "temp-root-swept", { tempRoot, removed: swept.length });
  const sweptCgroups = sweepRunCgroups();
  if (sweptCgroups.length > 0) log("warn", "run-cgroups-swept", { removed: sweptCgroups.length });
}

/** The process side around SchedulerState: timers, children, records, logs, the status port. */
class ProcessScheduler implements Scheduler {
  port = 0;
  readonly #options: SchedulerOptions;
  readonly #log: Log;
  /** The log's sink itself: a run child's entries go there as they are. */
  readonly #sink: LogSink;
  readonly #datasets: Map<string, ScheduledDataset>;
  #unloadable: Map<string, string>;
  readonly #state: SchedulerState;
  readonly #metrics = new SchedulerMetrics();
  readonly #streaks = new FailureStreaks();
  readonly #ring: RunRecordRing;
  readonly #runs = new Map<string, { abort: AbortController; done: Promise<void> }>();
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();
  readonly #sinks = new Set<Promise<void>>();
  readonly #crons = new Map<string, Cron>();
  #watch: RegistryWatch | null = null;
  readonly #keeper: LeaseKeeper | null;
  #idleWaiters: (() => void)[] = [];
  #server: StatusServer | null = null;
  #stopped: Promise<void> | null = null;
  #cutShort: (() => void) | null = null;

  constructor(options: SchedulerOptions, log: Log, sink: LogSink) {
    this.#options = options;
    this.#log = log;
    this.#sink = sink;
    this.#datasets = new Map(options.datasets.map((dataset) => [dataset.name, dataset]));
    this.#unloadable = new Map((options.unloadable ?? []).map((broken) => [broken.name, broken.reason]));
    this.#ring = new RunRecordRing(options.recordsPerDataset ?? DEFAULT_RECORDS_PER_DATASET);
    this.#state = new SchedulerState(this.#datasets.keys(), {
      concurrency: options.config.concurrency,
      retries: options.retries ?? DEFAULT_RETRIES,
      retryBackoffMs: options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS,
    });
    const leases = options.leases;
    this.#keeper = leases
      ? new LeaseKeeper({
          store: leases.store,
          holder: leases.holder ?? defaultHolder(),
          periodMs: leases.periodMs ?? DEFAULT_LEASE_SECONDS * 1000,
          log,
          datasets: () => [...this.#datasets.keys()],
          onTakeover: (dataset) => {
            if (this.#state.has(dataset)) this.trigger(dataset, "takeover");
          },
        })
      : null;
    this.#keeper?.start();
  }

  /** Whether an operator's request for the dataset can be taken now: no other scheduler holds its lease. */
  async canTakeRequest(dataset: string): Promise<boolean> {
    return this.#keeper === null || !(await this.#keeper.heldElsewhere(dataset));
  }

  async listen(host: string): Promise<void> {
    const wanted = this.#options.config.metricsPort;
    try {
      this.#server = await this.#startStatusServer(host, wanted);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" && this.#options.metricsPortFallback && wanted !== 0) {
        this.#server = await this.#startStatusServer(host, 0);
        this.#log("warn", "metrics-port-in-use", { message: `${CONFIG_ENV.metricsPort} ${wanted} is in use on ${host}: /healthz and /metrics are on port ${this.#server.port} instead`, wanted, port: this.#server.port });
      } else {
        const why = code === "EADDRINUSE" ? "is in use by another process" : code === "EACCES" ? "needs privileges this process lacks" : `cannot be used (${code ?? (error as Error).message})`;
        throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.metricsPort} (port ${wanted} on ${host} ${why}; choose another, or 0 for any free port)`, { cause: error });
      }
    }
    this.port = this.#server.port;
  }

  #startStatusServer(host: string, port: number): Promise<StatusServer> {
    const state = this.#state;
    const tempRoot = this.#options.config.tempRoot;
    return startStatusServer({
      host,
      port,
      health: () => {
        if (state.stopping) return { ok: false, status: "stopping", running: state.running, waiting: state.waiting };
        const { status, failing } = this.#streaks.health(this.datasets());
        return { ok: status === "ok", status, ...(status === "degraded" ? { failing } : {}), running: state.running, waiting: state.waiting };
      },
      live: () => !state.stopping,
      metrics: async () =>
        this.#metrics.render({
          running: state.running,
          waiting: state.waiting,
          tempRootBytes: await measureDiskUsage(tempRoot),
          degraded: this.#streaks.health(this.datasets()).status === "degraded",
          consecutiveFailures: this.#streaks.entries().map(([dataset, streak]) => [dataset, streak.consecutiveFailures]),
        }),
      onError: (error) => this.#log("error", "status-server-error", { message: (error as Error).message }),
    });
  }

  armSchedules(): void {
    for (const dataset of this.#datasets.values()) this.#arm(dataset);
  }

  /** (Re)arms a dataset's cron schedule. */
  #arm(dataset: ScheduledDataset): void {
    this.#crons.get(dataset.name)?.stop();
    const options = { timezone: this.#options.config.timezone, catch: true };
    this.#crons.set(dataset.name, new Cron(dataset.schedule, options, () => void this.trigger(dataset.name, "schedule", null, { slot: latestSlot(dataset.schedule, this.#options.config.timezone) })));
  }

  #disarm(name: string): void {
    this.#crons.get(name)?.stop();
    this.#crons.delete(name);
  }

  /** Watches the registry for changes (registry-watch.ts) and applies each re-read. */
  watch(modulePath: string): void {
    this.#watch = watchRegistry({
      modulePath,
      timeoutMs: this.#options.config.moduleTimeoutMs,
      onRead: (probe, changed) => this.#applyRegistryRead(probe, changed),
      onError: (error) => this.#log("error", "datasets-reload-failed", { reason: error.message, hint: "the datasets loaded before keep running; the next change is read again" }),
    });
  }

  /** A re-read registry: new datasets join and run once, changed ones rerun once, removed and broken ones stop. */
  #applyRegistryRead(probe: RegistryProbe, changed: ReadonlySet<string>): void {
    if (this.#state.stopping) return;
    const brokenNames = probe.broken.flatMap((module) => (module.name === null ? [] : [module.name]));
    let datasets: ScheduledDataset[];
    try {
      datasets = applyDatasetOverrides(probe.datasets, { schedules: this.#options.config.schedules, limits: this.#options.config.limits }, brokenNames);
      checkDatasets(datasets, this.#options.config.timezone);
    } catch (error) {
      this.#log("error", "datasets-reload-failed", { reason: (error as Error).message, hint: "the datasets loaded before keep running" });
      return;
    }
    const diff = diffRegistry(this.#datasets as ReadonlyMap<string, ReloadableDataset>, this.#unloadable, { datasets: datasets as ReloadableDataset[], broken: probe.broken }, changed);
    for (const module of probe.broken) if (module.name === null) this.#log("error", "dataset-module-broken", { file: module.file, reason: module.reason });
    if (isEmptyDiff(diff)) return void (this.#unloadable = diff.unloadable);
    for (const name of [...diff.removed, ...diff.broken.map((b) => b.name)]) this.#drop(name);
    this.#unloadable = diff.unloadable;
    for (const broken of diff.broken) this.recordUnloadable(broken, "reload");
    for (const dataset of [...diff.added, ...diff.changed]) {
      this.#datasets.set(dataset.name, dataset);
      this.#state.add(dataset.name);
      this.#arm(dataset);
    }
    const names = (list: { name: string }[]) => list.map((d) => d.name);
    this.#log("info", "datasets-reloaded", { added: names(diff.added), changed: names(diff.changed), removed: diff.removed, broken: names(diff.broken) });
    for (const dataset of [...diff.added, ...diff.changed]) this.trigger(dataset.name, "reload");
  }

  /** A dataset stops being scheduled: its cron and what waits go; a running run finishes. */
  #drop(name: string): void {
    this.#disarm(name);
    this.#datasets.delete(name);
    this.#streaks.forget(name);
    this.#apply(this.#state.remove(name));
  }

  trigger(name: string, kind: RunTrigger = "manual", requestId: string | null = null, options: TriggerOptions = {}): TriggerResult {
    if (!this.#state.has(name)) {
      const reason = this.#unloadable.get(name);
      if (reason !== undefined) throw new EdgesnapError("config", reason);
      throw new EdgesnapError("unknown-dataset", `unknown dataset "${name}"`);
    }
    const { result, effects } = this.#state.trigger(name, kind, requestId, options.force === true, options.slot);
    if (result === "coalesced") {
      this.#metrics.recordCoalesced(name);
      this.#log("info", "trigger-coalesced", { dataset: name, trigger: kind, requestId });
    }
    this.#apply(effects);
    return result;
  }

  records(name: string): RunRecord[] {
    return this.#ring.list(name);
  }

  datasets(): string[] {
    return [...this.#datasets.keys(), ...this.#unloadable.keys()];
  }

  idle(): Promise<void> {
    return this.#isIdle() ? Promise.resolve() : new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopped) {
      if (options.graceMs === 0) this.#cutShort?.();
      return this.#stopped;
    }
    this.#log("info", "scheduler-stopping", { running: this.#state.running });
    for (const cron of this.#crons.values()) cron.stop();
    const watching = this.#watch?.stop();
    this.#apply(this.#state.stop());
    this.#stopped = Promise.all([watching, this.#stopRuns(options.graceMs ?? this.#options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS)]).then(() => {});
    return this.#stopped;
  }

  /** A dataset whose module failed to load: a failed run record (and its log line), once per reason. */
  recordUnloadable(broken: UnloadableDataset, trigger: "startup" | "reload"): void {
    this.#log("error", "dataset-unloadable", { dataset: broken.name, reason: broken.reason });
    const at = new Date();
    const streak = this.#streaks.record(broken.name, "failed", at.toISOString());
    this.#publish(unstartedRunRecord({ dataset: broken.name, trigger, requestIds: [], outcome: "failed", reason: broken.reason, at, streak }), null);
  }

  async #stopRuns(graceMs: number): Promise<void> {
    const running = [...this.#runs.values()];
    const allDone = Promise.all(running.map((run) => run.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      this.#cutShort = resolve;
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([allDone, graceOver]);
    clearTimeout(timer);
    for (const run of running) run.abort.abort();
    await allDone;
    await this.#keeper?.stop();
    // Records still being persisted get a few seconds; an unref'd timer never holds the exit.
    await Promise.race([Promise.all(this.#sinks), new Promise((resolve) => setTimeout(resolve, SINK_GRACE_MS).unref())]);
    await this.#server?.close();
    this.#log("info", "scheduler-stopped", {});
    this.#notifyIdle();
  }

  #isIdle(): boolean {
    return this.#state.isIdle();
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Carries out what the state machine decided. */
  #apply(effects: SchedulerEffect[]): void {
    for (const effect of effects) {
      if (effect.type === "start") this.#startRun(effect.dataset, effect.run);
      else if (effect.type === "arm-retry") this.#armRetry(effect.dataset, effect.delayMs, effect.attempt);
      else {
        clearTimeout(this.#retryTimers.get(effect.dataset));
        this.#retryTimers.delete(effect.dataset);
      }
    }
  }

  #armRetry(dataset: string, delayMs: number, attempt: number): void {
    this.#metrics.recordRetry(dataset);
    this.#log("info", "retry-scheduled", { dataset, attempt, delayMs });
    const timer = setTimeout(() => {
      this.#retryTimers.delete(dataset);
      this.#apply(this.#state.retryDue(dataset));
      this.#notifyIdle();
    }, delayMs);
    this.#retryTimers.set(dataset, timer);
  }

  #startRun(name: string, request: RunRequest): void {
    const abort = new AbortController();
    const leased = this.#keeper ? this.#leaseFor(name, request, abort) : Promise.resolve(undefined);
    const done = leased.then((token) => (token === "skip" ? this.#skipRun(name, request) : this.#superviseRun(name, request, abort, token)));
    this.#runs.set(name, { abort, done });
  }

  /**
   * The dataset's lease for this run (its fencing token), or "skip" when another scheduler holds it
   * or ran its slot. An operator's run waits for the lease, checking every sixth of the period.
   */
  async #leaseFor(name: string, request: RunRequest, abort: AbortController): Promise<number | "skip"> {
    const keeper = this.#keeper!;
    const mode = leaseModeOf(request);
    for (let waited = false; !abort.signal.aborted; waited = true) {
      let result: AcquireResult;
      try {
        result = await keeper.acquire(name, mode.options, (why) => abort.abort(why));
      } catch (error) {
        this.#log("warn", "lease-unavailable", { dataset: name, trigger: request.trigger, message: (error as Error).message });
        if (!mode.wait) return "skip";
        await sleep(keeper.checkMs, abort.signal);
        continue;
      }
      if (result.acquired) return result.grant.token;
      if (result.reason === "held" && mode.wait) {
        if (!waited) this.#log("info", "lease-wait", { dataset: name, trigger: request.trigger, holder: result.lease.holder });
        await sleep(keeper.checkMs, abort.signal);
        continue;
      }
      const why = result.reason === "held" ? `another scheduler (${result.lease.holder}) is running it` : `slot ${request.slot} already ran`;
      this.#log("info", "trigger-skipped", { dataset: name, trigger: request.trigger, slot: request.slot ?? null, reason: why });
      return "skip";
    }
    return "skip";
  }

  /** A run that did not start: another scheduler has it, or this one stopped while waiting for its lease. */
  #skipRun(name: string, request: RunRequest): void {
    this.#runs.delete(name);
    this.#metrics.recordSkipped(name);
    // Operators' requests always get a record, so the edge completes them.
    if (request.requestIds.length > 0) {
      this.#publish(unstartedRunRecord({ dataset: name, trigger: request.trigger, requestIds: request.requestIds, outcome: "cancelled", reason: "the scheduler stopped before the run could take its dataset's lease" }), null);
    }
    this.#apply(this.#state.runSkipped(name));
    this.#notifyIdle();
  }

  /** Runs the child for one run (with the lease token when leases are on) and finishes it. */
  #superviseRun(name: string, request: RunRequest, abort: AbortController, leaseToken: number | undefined): Promise<void> {
    const dataset = this.#datasets.get(name)!;
    const options = this.#options;
    const startedAt = new Date();
    const id = newRunId(startedAt);
    const cwd = options.cwd ?? REPO_ROOT;
    const entry = typeof options.childEntry === "function" ? options.childEntry(name) : options.childEntry;
    const common = { dataset: name, run: id, trigger: request.trigger, attempt: request.attempt };
    const done = superviseRun({
      dataset: name,
      childEntry: path.resolve(cwd, entry ?? "compute/run/child.ts"),
      tempRoot: options.config.tempRoot,
      timeoutMs: dataset.limits?.timeoutMs ?? options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      memoryBytes: dataset.limits?.memoryBytes ?? options.defaultMemoryBytes ?? DEFAULT_MEMORY_BYTES,
      killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      sampleIntervalMs: options.sampleIntervalMs,
      cwd,
      env: { ...options.env, ...childRunEnv({ runId: id, force: request.force, leaseToken }) },
      execArgv: options.execArgv,
      signal: abort.signal,
      onSpawn: (pid) => this.#log("info", "run-started", { ...common, pid, requestId: request.requestIds[0] ?? null, requestIds: request.requestIds }),
      onOutput: (stream, line) => this.#childOutput(name, id, stream, line),
    })
      .catch((error: unknown): SupervisedRun => failedRun(`could not prepare the run: ${(error as Error).message}`, Date.now() - startedAt.getTime()))
      .then((run) => {
        // Queued before the follow-up run (started in #finishRun) asks for the lease again.
        void this.#keeper?.release(name);
        this.#finishRun(name, request, id, startedAt, run);
      });
    return done;
  }

  /** A line a run child printed: its log entries merged into this log as objects, other lines as text. */
  #childOutput(dataset: string, run: string, stream: "stdout" | "stderr", line: string): void {
    const entry = childEntryOf(line, { dataset, run });
    if (entry) this.#sink(entry);
    else this.#log(stream === "stderr" ? "warn" : "info", "child-output", { dataset, run, stream, line });
  }

  #finishRun(dataset: string, request: RunRequest, id: string, startedAt: Date, run: SupervisedRun): void {
    this.#runs.delete(dataset);
    const { willRetry, effects } = this.#state.runFinished(dataset, run.outcome);
    const finishedAt = new Date();
    const streak = this.#streaks.record(dataset, run.outcome, finishedAt.toISOString());
    const record = runRecordOf({ id, dataset, request, startedAt, finishedAt, result: run, willRetry, streak, replica: this.#keeper?.holder ?? null });
    const retry = effects.find((effect) => effect.type === "arm-retry");
    this.#publish(record, run, { retryInMs: retry?.type === "arm-retry" ? retry.delayMs : null });
    this.#apply(effects);
    this.#notifyIdle();
  }

  /** Keeps, counts, logs and hands on a finished run's record. */
  #publish(record: RunRecord, run: SupervisedRun | null, extra: { retryInMs?: number | null } = {}): void {
    this.#ring.add(record);
    this.#metrics.recordRun(record);
    this.#log(confirmsContent(record.outcome) ? "info" : "warn", "run-finished", {
      dataset: record.dataset,
      run: record.id,
      trigger: record.trigger,
      attempt: record.attempt,
      outcome: record.outcome,
      reason: record.reason,
      durationMs: record.duration_ms,
      peakRssBytes: record.peak_rss_bytes,
      rows: record.rows,
      bytes: record.bytes,
      version: record.version,
      willRetry: record.will_retry === true,
      consecutiveFailures: record.consecutive_failures ?? 0,
      retryInMs: extra.retryInMs ?? null,
      exitCode: run?.exitCode ?? null,
      exitSignal: run?.exitSignal ?? null,
      droppedOutputLines: run?.droppedOutputLines ?? 0,
    });
    try {
      this.#options.onRunFinished?.(record, {
        pid: run?.pid ?? null,
        exitCode: run?.exitCode ?? null,
        exitSignal: run?.exitSignal ?? null,
        spawnToFirstOutputMs: run?.spawnToFirstOutputMs ?? null,
        processes: (run?.processes ?? []).map(({ pid, pgrp, startTime }) => ({ pid, pgrp, startTime })),
      });
    } catch (error) {
      this.#log("error", "hook-failed", { dataset: record.dataset, run: record.id, message: (error as Error).message });
    }
    const sink = this.#options.recordSink;
    if (!sink) return;
    const write = sink(record)
      .catch((error: unknown) => this.#log("warn", "record-sink-failed", { dataset: record.dataset, run: record.id, message: (error as Error).message }))
      .finally(() => this.#sinks.delete(write));
    this.#sinks.add(write);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
