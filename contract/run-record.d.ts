/**
 * The record every run leaves behind, whatever its outcome. The scheduler writes it; the admin API
 * and the status page read it.
 */
import { z } from "zod";
export declare const RUN_OUTCOMES: readonly ["ok", "unchanged", "failed", "timed-out", "memory-killed", "rejected", "cancelled"];
export type RunOutcome = (typeof RUN_OUTCOMES)[number];
export declare const RUN_TRIGGERS: readonly ["schedule", "startup", "manual", "rebuild-request", "retry"];
export type RunTrigger = (typeof RUN_TRIGGERS)[number];
export declare const RunRecordSchema: z.ZodObject<{
    id: z.ZodString;
    dataset: z.ZodString;
    trigger: z.ZodEnum<{
        manual: "manual";
        schedule: "schedule";
        startup: "startup";
        "rebuild-request": "rebuild-request";
        retry: "retry";
    }>;
    request_id: z.ZodDefault<z.ZodNullable<z.ZodString>>;
    started_at: z.ZodISODateTime;
    finished_at: z.ZodISODateTime;
    outcome: z.ZodEnum<{
        ok: "ok";
        failed: "failed";
        cancelled: "cancelled";
        unchanged: "unchanged";
        "timed-out": "timed-out";
        "memory-killed": "memory-killed";
        rejected: "rejected";
    }>;
    reason: z.ZodNullable<z.ZodString>;
    duration_ms: z.ZodNumber;
    peak_rss_bytes: z.ZodNullable<z.ZodNumber>;
    rows: z.ZodNullable<z.ZodNumber>;
    bytes: z.ZodNullable<z.ZodNumber>;
    version: z.ZodNullable<z.ZodString>;
    attempt: z.ZodDefault<z.ZodNumber>;
}, z.core.$strip>;
export type RunRecord = z.infer<typeof RunRecordSchema>;
/**
 * A run id that sorts newest first: an inverted millisecond timestamp, then a random suffix.
 * R2 lists keys in ascending order, so the newest run comes first in a listing.
 */
export declare function makeRunId(startedAt: Date, random: string): string;
