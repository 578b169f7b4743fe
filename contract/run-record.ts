/**
 * The record every run leaves behind, whatever its outcome. The scheduler writes it; the admin API
 * and the status page read it.
 */
import { z } from "zod";

/**
 * Every way a run can end, and what each means, defined once: the run child reports the outcomes
 * it decides (`by: "run"`), the supervisor records the rest (a timeout, a memory kill, a stop).
 * `confirms`: the published content is current (the run published it or found it unchanged).
 * `failed`: the run was meant to confirm the content and could not. `retryable`: another attempt
 * may succeed (a gate rejection or a cancelled run would only repeat).
 */
const OUTCOMES = {
  ok: { by: "run", confirms: true, failed: false, retryable: false },
  unchanged: { by: "run", confirms: true, failed: false, retryable: false },
  failed: { by: "run", confirms: false, failed: true, retryable: true },
  "timed-out": { by: "supervisor", confirms: false, failed: true, retryable: true },
  "memory-killed": { by: "supervisor", confirms: false, failed: true, retryable: true },
  rejected: { by: "run", confirms: false, failed: true, retryable: false },
  cancelled: { by: "supervisor", confirms: false, failed: false, retryable: false },
} as const;

export type RunOutcome = keyof typeof OUTCOMES;
export const RUN_OUTCOMES = Object.keys(OUTCOMES) as [RunOutcome, ...RunOutcome[]];

/** The outcomes a run child decides and reports itself. */
export type RunResultOutcome = { [K in RunOutcome]: (typeof OUTCOMES)[K]["by"] extends "run" ? K : never }[RunOutcome];
export const RUN_RESULT_OUTCOMES = RUN_OUTCOMES.filter((outcome) => isRunResultOutcome(outcome)) as [RunResultOutcome, ...RunResultOutcome[]];

/** True for the outcomes a run child reports itself (not the supervisor's verdicts). */
export function isRunResultOutcome(outcome: RunOutcome): outcome is RunResultOutcome {
  return OUTCOMES[outcome].by === "run";
}

/** True for ok and unchanged: the run confirmed the published content. */
export function confirmsContent(outcome: RunOutcome): boolean {
  return OUTCOMES[outcome].confirms;
}

/** True for the outcomes of a run that should have confirmed the content and did not (not `cancelled`). */
export function isFailedOutcome(outcome: RunOutcome): boolean {
  return OUTCOMES[outcome].failed;
}

/** True for the outcomes worth another attempt. */
export function isRetryableOutcome(outcome: RunOutcome): boolean {
  return OUTCOMES[outcome].retryable;
}

/**
 * Why a run started: its cron schedule, the scheduler's start, an operator (`manual` in-process,
 * `rebuild-request` through the edge), a retry of a failed run, a dataset module that was added or
 * changed while the scheduler ran (`reload`), or another scheduler's run that died with its lease
 * (`takeover`).
 */
export const RUN_TRIGGERS = ["schedule", "startup", "manual", "rebuild-request", "retry", "reload", "takeover"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export const RunRecordSchema = z.object({
  id: z.string(),
  dataset: z.string(),
  trigger: z.enum(RUN_TRIGGERS),
  /** The first operator rebuild request this run served (the first of `request_ids`), kept for older readers. */
  request_id: z.string().nullable().default(null),
  /** Every operator rebuild request this run served: triggers coalesced into one run each add theirs. */
  request_ids: z.array(z.string()).default([]),
  started_at: z.iso.datetime(),
  finished_at: z.iso.datetime(),
  outcome: z.enum(RUN_OUTCOMES),
  /** One line saying why, for every outcome but ok. */
  reason: z.string().nullable(),
  duration_ms: z.number().nonnegative(),
  peak_rss_bytes: z.number().nonnegative().nullable(),
  rows: z.number().int().nonnegative().nullable(),
  bytes: z.number().int().nonnegative().nullable(),
  version: z.string().nullable(),
  attempt: z.number().int().positive().default(1),
  /**
   * Whether the scheduler will run the dataset again as a retry of this run. A failed run that will
   * not be retried is final: the edge alerts on it. Absent (read as false) in older records.
   */
  will_retry: z.boolean().optional(),
  /**
   * Failed runs of the dataset in a row, this one included (0 for a run that confirmed the
   * content), across triggers: a frequent schedule whose every run is retried still adds up, so the
   * edge can alert on a dataset that keeps failing. Absent in older records.
   */
  consecutive_failures: z.number().int().nonnegative().optional(),
  /** When the current run of failures began (the first failed run's end); null when not failing. */
  failing_since: z.iso.datetime().nullable().optional(),
  /** The cron slot a scheduled (or start-up) run was for: with several schedulers, each slot runs once. */
  scheduled_at: z.iso.datetime().nullable().optional(),
  /** The scheduler process that ran it (host, pid and a random part), when schedulers share the work. */
  replica: z.string().max(200).nullable().optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/**
 * The requests a record served: `request_ids`, and `request_id` for records from schedulers that
 * wrote only that field. Each once, in order.
 */
export function servedRequestIds(record: Pick<RunRecord, "request_id" | "request_ids">): string[] {
  return [...new Set([...(record.request_id === null ? [] : [record.request_id]), ...(record.request_ids ?? [])])];
}

/**
 * A run id that sorts newest first: an inverted millisecond timestamp, then a random suffix.
 * R2 lists keys in ascending order, so the newest run comes first in a listing.
 */
export function makeRunId(startedAt: Date, random: string): string {
  const inverted = (9_999_999_999_999 - startedAt.getTime()).toString().padStart(13, "0");
  return `${inverted}-${random}`;
}
