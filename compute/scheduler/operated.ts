/**
 * The scheduler as `edgesnap start` and `edgesnap scheduler` run it: with a token configured it
 * also polls the edge for operators' rebuild requests and reports every run record to the edge.
 * Built beside `runSchedulerUntilSignal` (which it mirrors) because the poller needs the running
 * scheduler's `trigger`.
 */
import { createAdminClient } from "../admin-client/index.ts";
import { jsonLineLog, startScheduler, type Scheduler, type SchedulerOptions } from "./index.ts";
import { startRebuildRequestPoller, type RebuildRequestPoller } from "./rebuild-requests.ts";
import { createRunReporter } from "./run-reporter.ts";

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
export async function startOperatedScheduler(options: SchedulerOptions, link: OperatorLinkOptions): Promise<OperatedScheduler> {
  const log = options.log ?? jsonLineLog;
  if (!link.token) {
    const scheduler = await startScheduler(options);
    return { scheduler, poller: null, stop: (o) => scheduler.stop(o) };
  }
  const client = createAdminClient({ edgeUrl: link.edgeUrl, token: link.token });
  const reporter = createRunReporter({ client, log });
  let poller: RebuildRequestPoller | null = null;
  const scheduler = await startScheduler({
    ...options,
    recordSink: reporter.sink,
    onRunFinished: (record, details) => {
      options.onRunFinished?.(record, details);
      poller?.onRunFinished(record);
    },
  });
  poller = startRebuildRequestPoller({
    client,
    datasets: options.datasets.map((d) => d.name),
    trigger: (dataset, trigger, requestId, triggerOptions) => scheduler.trigger(dataset, trigger, requestId, triggerOptions),
    log,
    intervalMs: link.pollIntervalMs,
  });
  const activePoller = poller;
  return {
    scheduler,
    poller,
    async stop(o) {
      await activePoller.stop();
      await scheduler.stop(o);
      // One last attempt for records still queued, bounded so a dead edge cannot hold the exit.
      await Promise.race([reporter.flush(), new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
      reporter.stop();
    },
  };
}

/** Like runSchedulerUntilSignal, with the operator link: runs until SIGTERM/SIGINT, then stops. */
export async function runOperatedSchedulerUntilSignal(options: SchedulerOptions, link: OperatorLinkOptions): Promise<void> {
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
