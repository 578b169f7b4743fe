/**
 * The scheduler as `edgesnap start` and `edgesnap scheduler` run it: with a token configured it
 * also polls the edge for operators' rebuild requests and reports every run record to the edge
 * (which completes the requests a record lists). `runSchedulerUntilSignal` is the one way a
 * long-lived scheduler process runs until it is told to stop.
 */
import { createAdminClient } from "../admin-client/index.ts";
import { writeLog } from "../run/logger.ts";
import { startScheduler, type Scheduler, type SchedulerOptions } from "./index.ts";
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

/** Starts the scheduler and, when `link.token` is set, the request poller and the run reporter. */
export async function startOperatedScheduler(options: SchedulerOptions, link?: OperatorLinkOptions): Promise<OperatedScheduler> {
  if (!link?.token) {
    const scheduler = await startScheduler(options);
    return { scheduler, poller: null, stop: (o) => scheduler.stop(o) };
  }
  const log = options.log ?? writeLog;
  const client = createAdminClient({ edgeUrl: link.edgeUrl, token: link.token });
  const reporter = createRunReporter({ client, log });
  const scheduler = await startScheduler({ ...options, recordSink: reporter.sink });
  const poller = startRebuildRequestPoller({
    client,
    // A dataset whose module failed to load is still this scheduler's: its requests are refused
    // with the reason rather than left pending for ever. The set follows the registry's changes.
    datasets: () => scheduler.datasets(),
    trigger: (dataset, trigger, requestId, triggerOptions) => scheduler.trigger(dataset, trigger, requestId, triggerOptions),
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
