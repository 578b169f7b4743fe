/**
 * The scheduler's side of operator rebuilds. The compute side only makes outbound connections, so
 * it polls the edge (`GET /admin/v1/requests/pending`, every 2 s by default), claims each request
 * for a dataset it schedules (a claim is a compare-and-swap on the edge, so two schedulers never
 * both take one), triggers the run with trigger "rebuild-request" and the request id, and when the
 * run finishes completes the request with the run's outcome and version. An unreachable edge is
 * logged once per outage and retried; it never stops the scheduler.
 */
import type { RunRecord } from "../../contract/run-record.ts";
import type { AdminClient } from "../admin-client/index.ts";
import { EdgesnapError } from "../errors.ts";
import type { SchedulerLog, TriggerResult } from "./index.ts";

/** At most 5 s between polls, per the operator's promise; 2 s by default. */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

export interface RebuildRequestPollerOptions {
  client: Pick<AdminClient, "pendingRequests" | "claimRequest" | "completeRequest">;
  /** Datasets this scheduler runs; requests for others are left for another scheduler. */
  datasets: readonly string[];
  /** Starts (or folds into) a run; normally the scheduler's `trigger`. */
  trigger: (dataset: string, trigger: "rebuild-request", requestId: string, options: { force: boolean }) => TriggerResult;
  log: SchedulerLog;
  intervalMs?: number;
}

export interface RebuildRequestPoller {
  /** Polls once now (the timer keeps polling too). Never throws. */
  pollOnce(): Promise<void>;
  /** Give every finished run to this (the scheduler's onRunFinished). */
  onRunFinished(record: RunRecord): void;
  /** Requests claimed whose run has not finished yet. */
  inFlight(): string[];
  /** Stops polling and waits for a poll or completion in progress. */
  stop(): Promise<void>;
}

interface Awaiting {
  id: string;
  dataset: string;
  /** When the run was triggered: the first run of the dataset that starts at or after serves it. */
  triggeredAt: number;
}

/** Starts polling at once and then every `intervalMs`. */
export function startRebuildRequestPoller(options: RebuildRequestPollerOptions): RebuildRequestPoller {
  const intervalMs = Math.min(options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS, 5_000);
  const datasets = new Set(options.datasets);
  const awaiting = new Map<string, Awaiting>();
  /** Completions the edge did not take yet, retried at every poll. */
  const unsent = new Map<string, Parameters<AdminClient["completeRequest"]>[1]>();
  let edgeDown = false;
  let stopped = false;
  let polling: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const work = new Set<Promise<void>>();

  const log = (level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}) => {
    try {
      options.log({ time: new Date().toISOString(), level, event, ...fields });
    } catch {
      // A broken log sink must not break polling.
    }
  };

  const edgeFailed = (error: unknown, during: string) => {
    if (!edgeDown) log("warn", "edge-unreachable", { during, message: (error as Error).message });
    edgeDown = true;
  };

  const sendCompletion = async (id: string) => {
    const body = unsent.get(id);
    if (!body) return;
    try {
      await options.client.completeRequest(id, body);
      unsent.delete(id);
      log("info", "rebuild-request-completed", { requestId: id, outcome: body.outcome, version: body.version, run: body.run_id });
    } catch (error) {
      // 404/409: the request is gone or moved on at the edge; retrying cannot help.
      if (error instanceof EdgesnapError && (error.code === "conflict" || error.code === "config" || error.code === "unknown-dataset")) {
        unsent.delete(id);
        log("warn", "rebuild-request-complete-refused", { requestId: id, message: error.message });
      } else edgeFailed(error, "complete");
    }
  };

  const poll = async () => {
    for (const id of [...unsent.keys()]) await sendCompletion(id);
    let pending;
    try {
      pending = await options.client.pendingRequests();
    } catch (error) {
      edgeFailed(error, "poll");
      return;
    }
    if (edgeDown) log("info", "edge-reachable", {});
    edgeDown = false;
    for (const request of pending) {
      if (stopped) return;
      if (!datasets.has(request.dataset) || awaiting.has(request.id)) continue;
      try {
        await options.client.claimRequest(request.id, null);
      } catch (error) {
        if (error instanceof EdgesnapError && error.code === "conflict") continue; // another scheduler took it
        edgeFailed(error, "claim");
        continue;
      }
      const triggeredAt = Date.now();
      let result: TriggerResult;
      try {
        result = options.trigger(request.dataset, "rebuild-request", request.id, { force: request.force });
      } catch (error) {
        unsent.set(request.id, { outcome: "failed", reason: `could not start the run: ${(error as Error).message}` });
        await sendCompletion(request.id);
        continue;
      }
      if (result === "stopped") {
        unsent.set(request.id, { outcome: "cancelled", reason: "the scheduler is stopping" });
        await sendCompletion(request.id);
        continue;
      }
      awaiting.set(request.id, { id: request.id, dataset: request.dataset, triggeredAt });
      log("info", "rebuild-request-claimed", { requestId: request.id, dataset: request.dataset, force: request.force, trigger: result });
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
    onRunFinished(record) {
      const startedAt = Date.parse(record.started_at);
      for (const entry of [...awaiting.values()]) {
        if (entry.dataset !== record.dataset) continue;
        if (record.request_id !== entry.id && startedAt < entry.triggeredAt - 5) continue;
        awaiting.delete(entry.id);
        unsent.set(entry.id, { outcome: record.outcome, version: record.version, run_id: record.id, reason: record.reason });
        const sending = sendCompletion(entry.id).finally(() => work.delete(sending));
        work.add(sending);
      }
    },
    inFlight: () => [...awaiting.keys()],
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await polling;
      await Promise.all(work);
    },
  };
}
