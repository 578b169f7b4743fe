/**
 * Freshness: how old a dataset's served content is and whether that is older than the dataset's
 * budget. A dataset's age counts from `checked_at`, the last time a run confirmed the content (a
 * publish, or a run that found it unchanged), so a dataset whose source rarely changes stays fresh
 * as long as its runs keep succeeding, and goes stale when they stop or keep failing. Pure: the
 * catalog, the admin overview, /v1/health and the edge's watchdog all decide with these functions.
 */
import { z } from "zod";

/** The budget a dataset gets by default: this many schedule intervals. */
export const DEFAULT_BUDGET_INTERVALS = 3;

/**
 * The smallest default budget, in seconds: one run with its retries at the default limits takes up
 * to 3 × 90 s (timeout) + 10 s + 20 s (backoff) = 300 s, so a shorter budget would call a dataset
 * stale while its scheduler is still, correctly, retrying.
 */
export const MIN_DEFAULT_BUDGET_SECONDS = 300;

/** What freshness is computed from: fields of a manifest or of a catalog entry. */
export interface FreshnessFacts {
  /** When a run last confirmed the content; null for manifests written before runs recorded it. */
  checked_at: string | null;
  /** The current version's build time: the age's origin when `checked_at` is null. */
  generated_at?: string | null;
  /** The budget in seconds; null when no run recorded one (then the dataset is never stale). */
  max_age_seconds: number | null;
}

/** A dataset's freshness at one instant, as the catalog, health and overview report it. */
export interface Freshness {
  checked_at: string | null;
  /** Whole seconds since `checked_at` (or since the build when that is unknown); null if neither is known. */
  age_seconds: number | null;
  max_age_seconds: number | null;
  stale: boolean;
}

/**
 * The budget a dataset gets when its definition names none: DEFAULT_BUDGET_INTERVALS intervals of
 * its schedule, and never less than MIN_DEFAULT_BUDGET_SECONDS.
 * @param intervalSeconds the longest gap between two runs of the schedule
 */
export function defaultMaxAgeSeconds(intervalSeconds: number): number {
  return Math.max(MIN_DEFAULT_BUDGET_SECONDS, Math.ceil(DEFAULT_BUDGET_INTERVALS * intervalSeconds));
}

/** Whole seconds from `since` to `now`, never negative (clocks of two machines may disagree). */
export function secondsSince(since: string, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / 1000));
}

/**
 * A dataset's freshness at `now`. Stale means strictly older than the budget: a dataset confirmed
 * exactly `max_age_seconds` ago is still fresh.
 */
export function freshnessOf(facts: FreshnessFacts, now: Date): Freshness {
  const origin = facts.checked_at ?? facts.generated_at ?? null;
  const age = origin === null ? null : secondsSince(origin, now);
  const budget = facts.max_age_seconds;
  return {
    checked_at: facts.checked_at,
    age_seconds: age,
    max_age_seconds: budget,
    stale: budget !== null && age !== null && age > budget,
  };
}

/** The largest budget among datasets (null when none has one). */
export function largestBudgetSeconds(budgets: readonly (number | null)[]): number | null {
  const known = budgets.filter((budget): budget is number => budget !== null);
  return known.length === 0 ? null : Math.max(...known);
}

/** The latest of some ISO times (null when there is none). */
export function latestTime(times: readonly (string | null | undefined)[]): string | null {
  let latest: string | null = null;
  for (const time of times) {
    if (time != null && (latest === null || Date.parse(time) > Date.parse(latest))) latest = time;
  }
  return latest;
}

/**
 * Whether the compute side has gone silent: nothing (no run record, no confirmed content) for longer
 * than the largest budget, which no dataset's own schedule can explain. False while nothing is known.
 * @param lastActivity the latest run report or `checked_at` of any dataset
 */
export function isSilent(lastActivity: string | null, largestBudget: number | null, now: Date): boolean {
  if (lastActivity === null || largestBudget === null) return false;
  return secondsSince(lastActivity, now) > largestBudget;
}

/** The conditions the edge's watchdog alerts on, each once when it starts and once when it ends. */
export const ALERT_CONDITIONS = ["run-failed", "stale", "scheduler-silent"] as const;
export type AlertCondition = (typeof ALERT_CONDITIONS)[number];

export const ALERT_KINDS = [...ALERT_CONDITIONS, "recovered"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/**
 * An alert as the webhook receives it (and the status page shows it). `text` repeats the message
 * for Slack-compatible receivers, which show only that field.
 */
export const AlertSchema = z.object({
  id: z.string(),
  /** The dataset, or null for the scheduler as a whole. */
  dataset: z.string().nullable(),
  kind: z.enum(ALERT_KINDS),
  /** For `recovered`: the condition that ended. */
  recovered: z.enum(ALERT_CONDITIONS).nullable(),
  message: z.string(),
  time: z.iso.datetime(),
  /** The status page, when the edge knows its address. */
  status_url: z.string().nullable(),
  text: z.string(),
});
export type Alert = z.infer<typeof AlertSchema>;
