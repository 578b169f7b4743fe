/**
 * The record every run leaves behind, whatever its outcome. The scheduler writes it; the admin API
 * and the status page read it.
 */
import { z } from "zod";

export const RUN_OUTCOMES = [
  "ok",
  "unchanged",
  "failed",
  "timed-out",
  "memory-killed",
  "rejected",
  "cancelled",
] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

export const RUN_TRIGGERS = ["schedule", "startup", "manual", "rebuild-request", "retry"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export const RunRecordSchema = z.object({
  id: z.string(),
  dataset: z.string(),
  trigger: z.enum(RUN_TRIGGERS),
  /** Links a run to the operator's rebuild request that caused it. */
  request_id: z.string().nullable().default(null),
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
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/**
 * A run id that sorts newest first: an inverted millisecond timestamp, then a random suffix.
 * R2 lists keys in ascending order, so the newest run comes first in a listing.
 */
export function makeRunId(startedAt: Date, random: string): string {
  const inverted = (9_999_999_999_999 - startedAt.getTime()).toString().padStart(13, "0");
  return `${inverted}-${random}`;
}
