/**
 * A RecordSink that reports every run record to the edge (`POST /admin/v1/runs`), where the admin
 * API and the status page read it and where the rebuild requests a record lists are completed.
 * Records are sent in order, each resent (through `withRetry`, with growing jittered delays)
 * until the edge takes it, so an edge outage delays a report, and the completion of its requests,
 * but never loses it. Records wait in a bounded queue meanwhile (oldest dropped first, with a
 * warning), so an outage costs history only beyond the queue's size and never blocks or crashes
 * the scheduler.
 */
import type { RunRecord } from "../../contract/run-record.ts";
import { withRetry } from "../../contract/retry.ts";
import type { EdgeClient } from "../edge-client/index.ts";
import { EdgesnapError } from "../errors.ts";
import { safeLog, type SchedulerLog } from "./index.ts";
import type { RecordSink } from "./records.ts";

export const DEFAULT_REPORT_QUEUE = 500;
/** Delay ceiling of the first resend; each further one doubles it, up to MAX_REPORT_RETRY_MS. */
export const DEFAULT_REPORT_RETRY_MS = 5_000;
export const MAX_REPORT_RETRY_MS = 60_000;

export interface RunReporterOptions {
  client: Pick<EdgeClient, "reportRun">;
  log: SchedulerLog;
  /** Records kept while the edge is unreachable. Default 500. */
  maxQueued?: number;
  /** Delay ceiling of the first resend after a failure. Default 5 s. */
  retryMs?: number;
}

export interface RunReporter {
  /**
   * Give this to the scheduler as `recordSink`. Resolves after one attempt to send (at once while
   * the edge is known to be down: the record waits its turn); never rejects.
   */
  sink: RecordSink;
  /** Records not yet accepted by the edge. */
  queued(): number;
  /** Sends what is queued now, cutting a wait short; resolves when the queue is empty or a send failed. */
  flush(): Promise<void>;
  /** Stops sending; what is still queued stays unsent. */
  stop(): void;
}

/** Thrown into the retry loop when the reporter stops. */
class ReporterStopped extends Error {}

/** The edge refused the record as malformed: resending cannot help. */
function isRefusal(error: unknown): boolean {
  return error instanceof EdgesnapError && error.code === "config";
}

/** A backoff wait that never holds the process's exit and that `wake` ends early (flush, stop). */
function wakeableSleep(): { sleep(ms: number): Promise<void>; wake(): void } {
  let wake: (() => void) | null = null;
  return {
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        timer.unref();
        wake = done;
      }),
    wake: () => wake?.(),
  };
}

/** Lets callers wait for the next attempt to send, and learn whether it succeeded. */
function attemptSignal(): { next(): Promise<boolean>; settle(ok: boolean): void } {
  let waiters: ((ok: boolean) => void)[] = [];
  return {
    next: () => new Promise<boolean>((resolve) => waiters.push(resolve)),
    settle(ok) {
      const settled = waiters;
      waiters = [];
      for (const resolve of settled) resolve(ok);
    },
  };
}

/** Creates the reporter; nothing is sent until a record arrives. */
export function createRunReporter(options: RunReporterOptions): RunReporter {
  const maxQueued = options.maxQueued ?? DEFAULT_REPORT_QUEUE;
  const retryMs = options.retryMs ?? DEFAULT_REPORT_RETRY_MS;
  const log = safeLog(options.log);
  const queue: RunRecord[] = [];
  let draining: Promise<void> | null = null;
  const backoff = wakeableSleep();
  const attempts = attemptSignal();
  let failing = false;
  let stopped = false;

  /** One attempt; false when the record was dropped from the queue while it waited. */
  const sendOnce = async (record: RunRecord): Promise<boolean> => {
    if (stopped) throw new ReporterStopped();
    if (!queue.includes(record)) return false;
    try {
      await options.client.reportRun(record);
      return true;
    } catch (error) {
      if (!isRefusal(error)) {
        if (!failing) log("warn", "run-report-failed", { dataset: record.dataset, run: record.id, queued: queue.length, message: (error as Error).message });
        failing = true;
        attempts.settle(false);
      }
      throw error;
    }
  };

  /** Sends one record until the edge takes it (or refuses it for good, or the reporter stops). */
  const send = async (record: RunRecord) => {
    try {
      const sent = await withRetry(() => sendOnce(record), {
        attempts: Number.POSITIVE_INFINITY,
        baseDelayMs: retryMs,
        maxDelayMs: Math.max(retryMs, MAX_REPORT_RETRY_MS),
        shouldRetry: (error) => !(error instanceof ReporterStopped) && !isRefusal(error),
        sleep: backoff.sleep,
      });
      if (!sent) return attempts.settle(true);
    } catch (error) {
      if (error instanceof ReporterStopped) return; // the record stays queued
      if (!isRefusal(error)) throw error;
      log("warn", "run-report-refused", { dataset: record.dataset, run: record.id, message: (error as Error).message });
    }
    const index = queue.indexOf(record);
    if (index >= 0) queue.splice(index, 1);
    if (failing) log("info", "run-report-recovered", { queued: queue.length });
    failing = false;
    attempts.settle(true);
  };

  const startDraining = (): void => {
    if (draining || stopped) return;
    draining = (async () => {
      while (queue.length > 0 && !stopped) await send(queue[0]!);
    })().finally(() => {
      draining = null;
      // A record queued while the loop was ending: go on with it.
      if (queue.length > 0 && !stopped) startDraining();
      else attempts.settle(queue.length === 0);
    });
  };

  return {
    sink: async function reportRunRecord(record) {
      queue.push(record);
      if (queue.length > maxQueued) {
        const dropped = queue.splice(0, queue.length - maxQueued);
        log("warn", "run-report-dropped", { dropped: dropped.length, oldest: dropped[0]?.id });
      }
      if (stopped) return;
      const wasFailing = failing;
      const attempt = attempts.next();
      startDraining();
      if (!wasFailing) await attempt;
    },
    queued: () => queue.length,
    async flush() {
      while (queue.length > 0 && !stopped) {
        const attempt = attempts.next();
        startDraining();
        backoff.wake();
        if (!(await attempt)) return;
      }
    },
    stop() {
      stopped = true;
      backoff.wake();
    },
  };
}
