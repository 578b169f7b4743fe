/**
 * A RecordSink that reports every run record to the edge (`POST /admin/v1/runs`), where the admin
 * API and the status page read it. Records that cannot be sent wait in a bounded queue (oldest
 * dropped first, with a warning) and are retried in order, so an edge outage costs history only
 * beyond the queue's size and never blocks or crashes the scheduler.
 */
import type { RunRecord } from "../../contract/run-record.ts";
import type { AdminClient } from "../admin-client/index.ts";
import { EdgesnapError } from "../errors.ts";
import type { SchedulerLog } from "./index.ts";
import type { RecordSink } from "./records.ts";

export const DEFAULT_REPORT_QUEUE = 500;
export const DEFAULT_REPORT_RETRY_MS = 5_000;

export interface RunReporterOptions {
  client: Pick<AdminClient, "reportRun">;
  log: SchedulerLog;
  /** Records kept while the edge is unreachable. Default 500. */
  maxQueued?: number;
  /** Delay before retrying after a failure. Default 5 s. */
  retryMs?: number;
}

export interface RunReporter {
  /** Give this to the scheduler as `recordSink`. Resolves after one attempt; never rejects. */
  sink: RecordSink;
  /** Records not yet accepted by the edge. */
  queued(): number;
  /** Tries to send everything queued now. */
  flush(): Promise<void>;
  /** Stops the retry timer. */
  stop(): void;
}

export function createRunReporter(options: RunReporterOptions): RunReporter {
  const maxQueued = options.maxQueued ?? DEFAULT_REPORT_QUEUE;
  const retryMs = options.retryMs ?? DEFAULT_REPORT_RETRY_MS;
  const queue: RunRecord[] = [];
  let draining: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let failing = false;
  let stopped = false;

  const log = (level: "info" | "warn", event: string, fields: Record<string, unknown>) => {
    try {
      options.log({ time: new Date().toISOString(), level, event, ...fields });
    } catch {
      // Never let logging break reporting.
    }
  };

  const drain = async () => {
    while (queue.length > 0) {
      const record = queue[0]!;
      try {
        await options.client.reportRun(record);
      } catch (error) {
        if (error instanceof EdgesnapError && error.code === "config") {
          // The edge refused this record as malformed: resending cannot help.
          queue.shift();
          log("warn", "run-report-refused", { dataset: record.dataset, run: record.id, message: error.message });
          continue;
        }
        if (!failing) log("warn", "run-report-failed", { dataset: record.dataset, run: record.id, queued: queue.length, message: (error as Error).message });
        failing = true;
        if (!stopped && timer === null) {
          timer = setTimeout(() => {
            timer = null;
            void flush();
          }, retryMs);
          timer.unref();
        }
        return;
      }
      queue.shift();
      if (failing) log("info", "run-report-recovered", { queued: queue.length });
      failing = false;
    }
  };

  const flush = (): Promise<void> => {
    draining ??= drain().finally(() => {
      draining = null;
    });
    return draining;
  };

  return {
    sink: async function reportRunRecord(record) {
      queue.push(record);
      if (queue.length > maxQueued) {
        const dropped = queue.splice(0, queue.length - maxQueued);
        log("warn", "run-report-dropped", { dropped: dropped.length, oldest: dropped[0]?.id });
      }
      // A drain in progress picks the new record up; otherwise start one.
      await flush();
    },
    queued: () => queue.length,
    flush,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
