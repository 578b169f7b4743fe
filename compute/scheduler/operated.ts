/**
 * The scheduler as `edgesnap start` and `edgesnap scheduler` run it: with a token configured it
 * also polls the edge for operators' rebuild requests and reports every run record to the edge
 * (which completes the requests a record lists). `runSchedulerUntilSignal` is the one way a
 * long-lived scheduler process runs until it is told to stop.
 */
import { createEdgeClient } from "../edge-client/index.ts";
import { writeLog } from "../run/logger.ts";
import { startScheduler, type Scheduler, type SchedulerLeaseOptions, type SchedulerOptions } from "./index.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { CONFIG_ENV, leaseSettings } from "../config.ts";
import { EdgesnapError } from "../errors.ts";
import { startRebuildRequestPoller, type RebuildRequestPoller } from "./rebuild-requests.ts";
import { createRunReporter } from "./run-reporter.ts";

/** How long stopping waits for records still queued for the edge. */
const FINAL_REPORT_MS = 3_000;

export interface OperatorLinkOptions {
  /** Base URL of the Worker. */
  edgeUrl: string;
  /** The admin token; without it the scheduler runs alone (no polling, no reports). */
  token?: string;
  pollIntervalMs?: number;
}

export interface OperatedScheduler {
  scheduler: Scheduler;
  poller: RebuildRequestPoller | null;
  /** Stops the poller, then the scheduler (records still being reported get the scheduler's grace). */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/**
 * The store the scheduler's leases live in, when the configuration turns leases on (default: on
 * with the S3 store): R2 over its S3 API, or for the local store the local Worker's storage API
 * (leases need the running Worker; the scheduler never opens a private local runtime).
 * @throws {EdgesnapError} "config" naming EDGESNAP_LEASES when the local Worker cannot be reached
 */
async function openLeases(config: SchedulerOptions["config"], link?: OperatorLinkOptions): Promise<{ leases: SchedulerLeaseOptions; close(): Promise<void> } | null> {
  const { store } = config;
  if (!store || !leaseSettings({ store, leases: config.leases, leaseSeconds: config.leaseSeconds }).enabled) return null;
  const { periodMs } = leaseSettings({ store, leases: config.leases, leaseSeconds: config.leaseSeconds });
  let opened: ObjectStore;
  if (store.kind === "s3") opened = await (await import("../storage/s3.ts")).openS3Store(store);
  else {
    const { openWorkerStore } = await import("../storage/worker.ts");
    if (!link?.token) throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.leases} (with the local store, leases live behind the local Worker's storage API: set ${CONFIG_ENV.token})`);
    opened = await openWorkerStore({ edgeUrl: link.edgeUrl, token: link.token }).catch((error: unknown) => {
      throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.leases} (the local Worker's storage API at ${link.edgeUrl} cannot be used for leases: ${(error as Error).message})`, { cause: error });
    });
  }
  return { leases: { store: opened, periodMs }, close: () => opened.close() };
}

/** Starts the scheduler and, when `link.token` is set, the request poller and the run reporter. */
export async function startOperatedScheduler(options: SchedulerOptions, link?: OperatorLinkOptions): Promise<OperatedScheduler> {
  const leases = options.leases ? null : await openLeases(options.config, link);
  const withLeases: SchedulerOptions = leases ? { ...options, leases: leases.leases } : options;
  if (!link?.token) {
    const scheduler = await startScheduler(withLeases);
    return {
      scheduler,
      poller: null,
      async stop(o) {
        await scheduler.stop(o);
        await leases?.close();
      },
    };
  }
  const log = options.log ?? writeLog;
  const client = createEdgeClient({ edgeUrl: link.edgeUrl, token: link.token });
  const reporter = createRunReporter({ client, log });
  const scheduler = await startScheduler({ ...withLeases, recordSink: reporter.sink });
  const poller = startRebuildRequestPoller({
    client,
    // A dataset whose module failed to load is still this scheduler's: its requests are refused
    // with the reason rather than left pending for ever. The set follows the registry's changes.
    datasets: () => scheduler.datasets(),
    trigger: (dataset, trigger, requestId, triggerOptions) => scheduler.trigger(dataset, trigger, requestId, triggerOptions),
    // With leases, a request waits at the edge while another scheduler runs its dataset.
    available: (dataset) => scheduler.canTakeRequest(dataset),
    report: (record) => reporter.sink(record),
    log,
    intervalMs: link.pollIntervalMs,
  });
  return {
    scheduler,
    poller,
    async stop(o) {
      await poller.stop();
      await scheduler.stop(o);
      // One last attempt for records still queued, bounded so a dead edge cannot hold the exit.
      await Promise.race([reporter.flush(), new Promise((resolve) => setTimeout(resolve, FINAL_REPORT_MS).unref())]);
      reporter.stop();
      await leases?.close();
    },
  };
}

/**
 * Runs the scheduler (with the operator link when `link` has a token) until SIGTERM or SIGINT,
 * then stops it (a second signal skips the grace period) and resolves; the caller exits 0. What
 * `edgesnap scheduler` and the container run.
 */
export async function runSchedulerUntilSignal(options: SchedulerOptions, link?: OperatorLinkOptions): Promise<void> {
  const operated = await startOperatedScheduler(options, link);
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      signals++;
      operated.stop(signals > 1 ? { graceMs: 0 } : {}).then(() => {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        resolve();
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
