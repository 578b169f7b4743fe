/**
 * Run records kept in memory (a bounded ring per dataset, for /metrics, logs and the admin side)
 * and, best effort, in the store under `runObjectKey`.
 */
import { randomBytes } from "node:crypto";
import { storeRunRecord } from "../../contract/protocol/runs.ts";
import { makeRunId, type RunOutcome, type RunRecord } from "../../contract/run-record.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import type { FailureStreak } from "./health.ts";
import type { RunRequest } from "./state.ts";
import type { SupervisedRun } from "./supervise.ts";

/** How many records the scheduler keeps per dataset by default. */
export const DEFAULT_RECORDS_PER_DATASET = 50;

/** The newest `capacity` records of each dataset; older ones fall off. */
export class RunRecordRing {
  readonly #capacity: number;
  readonly #byDataset = new Map<string, RunRecord[]>();

  constructor(capacity = DEFAULT_RECORDS_PER_DATASET) {
    this.#capacity = capacity;
  }

  add(record: RunRecord): void {
    const list = this.#byDataset.get(record.dataset) ?? [];
    list.push(record);
    if (list.length > this.#capacity) list.splice(0, list.length - this.#capacity);
    this.#byDataset.set(record.dataset, list);
  }

  /** A dataset's records, oldest first. */
  list(dataset: string): RunRecord[] {
    return [...(this.#byDataset.get(dataset) ?? [])];
  }
}

/** Persists a record somewhere; failures are logged by the scheduler, never fatal. */
export type RecordSink = (record: RunRecord) => Promise<void>;

/** A sink that writes each record as JSON to `runs/<dataset>/<run id>.json` in the store. */
export function storeRecordSink(store: ObjectStore): RecordSink {
  return async function writeRunRecord(record) {
    await storeRunRecord(store, record);
  };
}

/** A fresh run id for a run starting at `startedAt`. */
export function newRunId(startedAt: Date): string {
  return makeRunId(startedAt, randomBytes(4).toString("hex"));
}

/** The record of a run the scheduler supervised. */
export function runRecordOf(run: {
  id: string;
  dataset: string;
  request: RunRequest;
  startedAt: Date;
  finishedAt: Date;
  result: Pick<SupervisedRun, "outcome" | "reason" | "durationMs" | "peakRssBytes" | "rows" | "bytes" | "version">;
  willRetry: boolean;
  /** The dataset's run of failures after this run (health.ts). */
  streak?: FailureStreak;
  /** The scheduler process that ran it, when schedulers share the work. */
  replica?: string | null;
}): RunRecord {
  const { request, result } = run;
  return {
    id: run.id,
    dataset: run.dataset,
    trigger: request.trigger,
    request_id: request.requestIds[0] ?? null,
    request_ids: [...request.requestIds],
    started_at: run.startedAt.toISOString(),
    finished_at: run.finishedAt.toISOString(),
    outcome: result.outcome,
    reason: result.reason,
    duration_ms: Math.round(result.durationMs),
    peak_rss_bytes: result.peakRssBytes,
    rows: result.rows,
    bytes: result.bytes,
    version: result.version,
    attempt: request.attempt,
    will_retry: run.willRetry,
    ...(run.streak ? { consecutive_failures: run.streak.consecutiveFailures, failing_since: run.streak.failingSince } : {}),
    ...(request.slot !== undefined ? { scheduled_at: request.slot } : {}),
    ...(run.replica ? { replica: run.replica } : {}),
  };
}

/**
 * The record of a run that never started (its dataset cannot be loaded, or the scheduler is
 * stopping): it still says why, and completes the operator requests it names at the edge.
 */
export function unstartedRunRecord(options: {
  dataset: string;
  trigger: RunRequest["trigger"];
  requestIds: string[];
  outcome: RunOutcome;
  reason: string;
  at?: Date;
  streak?: FailureStreak;
}): RunRecord {
  const at = options.at ?? new Date();
  return runRecordOf({
    id: newRunId(at),
    dataset: options.dataset,
    request: { trigger: options.trigger, requestIds: options.requestIds, attempt: 1, force: false },
    startedAt: at,
    finishedAt: at,
    result: { outcome: options.outcome, reason: options.reason, durationMs: 0, peakRssBytes: null, rows: null, bytes: null, version: null },
    willRetry: false,
    streak: options.streak,
  });
}
