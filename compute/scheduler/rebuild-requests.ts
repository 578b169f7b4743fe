/**
 * The scheduler's side of operator rebuilds. The compute side only makes outbound connections, so
 * it polls the edge (`GET /admin/v1/requests/pending`, every 2 s by default), claims each request
 * for a dataset it schedules (a claim is a compare-and-swap on the edge, so two schedulers never
 * both take one) and triggers the run with trigger "rebuild-request" and the request id. It never
 * completes a request itself: the run's record lists the requests it served, and the edge
 * completes them when the record is reported. A claim the scheduler cannot start (a dataset whose
 * module failed to load, a scheduler that is stopping) is reported as a record of its own, failed
 * or cancelled, so the request is completed the same way. An unreachable edge is logged once per
 * outage; the next poll tries again and it never stops the scheduler.
 */
import type { RunOutcome, RunRecord } from "../../contract/run-record.ts";
import type { EdgeClient } from "../edge-client/index.ts";
import { EdgesnapError } from "../errors.ts";
import { safeLog, type SchedulerLog } from "./index.ts";
import { unstartedRunRecord } from "./records.ts";
import type { TriggerResult } from "./state.ts";

/** At most 5 s between polls, per the operator's promise; 2 s by default. */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

export interface RebuildRequestPollerOptions {
  client: Pick<EdgeClient, "pendingRequests" | "claimRequest">;
  /**
   * Datasets this scheduler is responsible for (a function: the set changes when the registry is
   * re-read); requests for others are left for another scheduler.
   */
  datasets: readonly string[] | (() => readonly string[]);
  /** Starts (or folds into) a run; normally the scheduler's `trigger`. */
  trigger: (dataset: string, trigger: "rebuild-request", requestId: string, options: { force: boolean }) => TriggerResult;
  /**
   * Whether a request for the dataset can be taken now; one that cannot stays pending at the edge for
   * the next poll (with leases: another scheduler is running the dataset). Default: always.
   */
  available?: (dataset: string) => Promise<boolean>;
  /** Reports the record of a claim that could not start; normally the run reporter's sink. */
  report: (record: RunRecord) => unknown;
  log: SchedulerLog;
  intervalMs?: number;
}

export interface RebuildRequestPoller {
  /** Polls once now (the timer keeps polling too). Never throws. */
  pollOnce(): Promise<void>;
  /** Stops polling and waits for a poll in progress. */
  stop(): Promise<void>;
}

/** Starts polling at once and then every `intervalMs`. */
export function startRebuildRequestPoller(options: RebuildRequestPollerOptions): RebuildRequestPoller {
  const intervalMs = Math.min(options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS, 5_000);
  const datasets = (): ReadonlySet<string> => new Set(typeof options.datasets === "function" ? options.datasets() : options.datasets);
  const log = safeLog(options.log);
  let edgeDown = false;
  let stopped = false;
  let polling: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;

  const edgeFailed = (error: unknown, during: string) => {
    if (!edgeDown) log("warn", "edge-unreachable", { during, message: (error as Error).message });
    edgeDown = true;
  };

  /** Claims one request and starts its run; false when another scheduler took it or the edge failed. */
  const take = async (request: { id: string; dataset: string; force: boolean }) => {
    if (options.available && !(await options.available(request.dataset).catch(() => true))) return;
    try {
      await options.client.claimRequest(request.id, null);
    } catch (error) {
      // A conflict: another scheduler took it.
      if (!(error instanceof EdgesnapError && error.code === "conflict")) edgeFailed(error, "claim");
      return;
    }
    let result: TriggerResult;
    try {
      result = options.trigger(request.dataset, "rebuild-request", request.id, { force: request.force });
    } catch (error) {
      refuse(request, "failed", `could not start the run: ${(error as Error).message}`);
      return;
    }
    if (result === "stopped") refuse(request, "cancelled", "the scheduler is stopping");
    else log("info", "rebuild-request-claimed", { requestId: request.id, dataset: request.dataset, force: request.force, trigger: result });
  };

  const refuse = (request: { id: string; dataset: string }, outcome: RunOutcome, reason: string) => {
    log("warn", "rebuild-request-refused", { requestId: request.id, dataset: request.dataset, outcome, reason });
    options.report(unstartedRunRecord({ dataset: request.dataset, trigger: "rebuild-request", requestIds: [request.id], outcome, reason }));
  };

  const poll = async () => {
    let pending;
    try {
      pending = await options.client.pendingRequests();
    } catch (error) {
      edgeFailed(error, "poll");
      return;
    }
    if (edgeDown) log("info", "edge-reachable", {});
    edgeDown = false;
    const ours = datasets();
    for (const request of pending) {
      if (stopped) return;
      if (ours.has(request.dataset)) await take(request);
    }
  };

  const pollOnce = (): Promise<void> => {
    polling ??= poll().finally(() => {
      polling = null;
    });
    return polling;
  };

  const tick = () => {
    if (stopped) return;
    pollOnce().finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  tick();

  return {
    pollOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await polling;
    },
  };
}
