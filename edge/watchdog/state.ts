/**
 * The watchdog's memory: which conditions each dataset is in (its last final run failed, it is
 * stale), whether the compute side has gone silent, the last alert per dataset for the status page,
 * and an outbox of alerts not yet delivered. One R2 object changed only by compare-and-swap, so the
 * cron and the run reports (any isolate, any location) agree on every change of state, and each
 * change raises exactly one alert however often it is observed.
 *
 * The transitions are pure: they take the state and an observation and return the next state with
 * the alerts the change raised.
 */
import { z } from "zod";
import { formatAge } from "../../contract/format.ts";
import { AlertSchema, isSilent, largestBudgetSeconds, latestTime, secondsSince, type Alert, type AlertCondition, type Freshness } from "../../contract/freshness.ts";
import { confirmsContent, isFailedOutcome, RUN_OUTCOMES, type RunOutcome, type RunRecord } from "../../contract/run-record.ts";
import { log } from "../log.ts";

/** R2: the watchdog's state (edge-only, beside the purge state). */
export const ALERT_STATE_KEY = "edge/alert-state.json";

/** Key of `last_alerts` for alerts about the compute side as a whole. */
export const SCHEDULER_KEY = "*";

/** Alerts kept per dataset (and for the compute side) for the status page, newest first. */
export const RECENT_ALERTS_KEPT = 10;

/** Alerts kept for delivery at most; beyond it the oldest are dropped (and logged). */
export const MAX_OUTBOX = 100;

/** Outcomes of a run that did not confirm the content. */
export const FAILED_OUTCOMES: ReadonlySet<RunOutcome> = new Set(RUN_OUTCOMES.filter(isFailedOutcome));

/**
 * A failing dataset alerts within this many seconds of its first failure even while every run is
 * retried: a schedule frequent enough to pre-empt each retry with a fresh run would otherwise never
 * reach "no retry left". Long enough for a first retry (10 s later) of a run of up to ~35 s to
 * clear a passing fault. With the cron every minute, the alert goes out at most 45 + 60 = 105 s
 * after the first failure, under the 2 minutes promised.
 */
export const FAILING_ALERT_AFTER_SECONDS = 45;

/** A failing dataset alerts at once at this many failed runs in a row, retried or not. */
export const FAILURES_IN_A_ROW_ALERT = 3;

const DatasetWatchSchema = z.object({
  /** The run-failed condition is on (alerted): a final failure, or failures that lasted. */
  failing: z.boolean().default(false),
  stale: z.boolean().default(false),
  /** When the current run of failures began (the first failed run's end); null while runs succeed. */
  failing_since: z.iso.datetime().nullable().default(null),
  /** Failed runs in a row (the scheduler's count when it reports one, else counted here). */
  failures: z.number().int().nonnegative().default(0),
  /** The latest failed run, for the alert the cron raises. */
  last_failure: z.object({ run: z.string(), outcome: z.string(), reason: z.string().nullable(), attempt: z.number() }).nullable().default(null),
});
type DatasetWatch = z.infer<typeof DatasetWatchSchema>;

function watchOf(state: AlertState, dataset: string): DatasetWatch {
  return DatasetWatchSchema.parse(state.datasets[dataset] ?? {});
}

export const OutboxEntrySchema = z.object({
  alert: AlertSchema,
  /** Delivery rounds tried so far (each round retries with backoff itself). */
  rounds: z.number().int().nonnegative(),
  /** Not before this time: set after a failed round, and as a lease while a round is under way. */
  next_attempt_at: z.iso.datetime(),
});
export type OutboxEntry = z.infer<typeof OutboxEntrySchema>;

export const AlertStateSchema = z.object({
  datasets: z.record(z.string(), DatasetWatchSchema).default({}),
  /** No run reported and nothing confirmed for longer than the largest budget. */
  silent: z.boolean().default(false),
  /** When the latest reported run finished. */
  last_run_at: z.iso.datetime().nullable().default(null),
  /** The status page as seen from the requests that reported runs (when no address is configured). */
  status_url: z.string().nullable().default(null),
  /** The last alert per dataset (SCHEDULER_KEY: about the compute side), for the status page. */
  last_alerts: z.record(z.string(), AlertSchema).default({}),
  /** The last RECENT_ALERTS_KEPT alerts per key of `last_alerts`, newest first, for the status page. */
  recent_alerts: z.record(z.string(), z.array(AlertSchema)).default({}),
  outbox: z.array(OutboxEntrySchema).default([]),
});
export type AlertState = z.infer<typeof AlertStateSchema>;

export function emptyAlertState(): AlertState {
  return AlertStateSchema.parse({});
}

/** Reads the stored state; a junk object reads as empty (and is replaced by the next change). */
export function parseAlertState(text: string): AlertState {
  try {
    return AlertStateSchema.parse(JSON.parse(text));
  } catch {
    log.error("unreadable alert state; starting a new one", { key: ALERT_STATE_KEY });
    return emptyAlertState();
  }
}

/** How an observation is turned into alerts. */
export interface RaiseOptions {
  now: Date;
  /** The configured status page address (EDGESNAP_STATUS_URL), if any. */
  statusUrl?: string | null;
  /** Whether alerts go to the outbox (a webhook is configured). */
  deliver: boolean;
}

/** The result of a transition. */
export interface Transition {
  state: AlertState;
  alerts: Alert[];
}

interface RaiseInput {
  dataset: string | null;
  kind: Alert["kind"];
  recovered?: AlertCondition;
  message: string;
}

function statusUrlFor(state: AlertState, options: RaiseOptions, dataset: string | null): string | null {
  const base = options.statusUrl || state.status_url;
  if (!base) return null;
  return dataset === null ? base : `${base}#ds-${dataset}`;
}

function raise(transition: Transition, input: RaiseInput, options: RaiseOptions): void {
  const { state } = transition;
  const time = options.now.toISOString();
  const statusUrl = statusUrlFor(state, options, input.dataset);
  const label = input.kind === "recovered" ? `recovered (${input.recovered})` : input.kind;
  const alert: Alert = {
    id: `${options.now.getTime()}-${input.kind}-${input.dataset ?? "scheduler"}`,
    dataset: input.dataset,
    kind: input.kind,
    recovered: input.recovered ?? null,
    message: input.message,
    time,
    status_url: statusUrl,
    text: `edgesnap ${label}: ${input.message}${statusUrl ? ` <${statusUrl}|status page>` : ""}`,
  };
  transition.alerts.push(alert);
  state.last_alerts = { ...state.last_alerts, [input.dataset ?? SCHEDULER_KEY]: alert };
  const key = input.dataset ?? SCHEDULER_KEY;
  state.recent_alerts = { ...state.recent_alerts, [key]: [alert, ...(state.recent_alerts[key] ?? [])].slice(0, RECENT_ALERTS_KEPT) };
  if (options.deliver) {
    const outbox = [...state.outbox, { alert, rounds: 0, next_attempt_at: time }];
    const dropped = outbox.length - MAX_OUTBOX;
    if (dropped > 0) log.error("alert outbox full; oldest alerts dropped", { dropped });
    state.outbox = outbox.slice(Math.max(0, dropped));
  }
}

function begin(state: AlertState): Transition {
  return { state: structuredClone(state), alerts: [] };
}

/** Why a failing dataset alerts now, or null while it may still recover on a retry. */
function failingAlertCause(watch: DatasetWatch, finalFailure: boolean, now: Date): string | null {
  if (finalFailure) return "no retry left";
  if (watch.failures >= FAILURES_IN_A_ROW_ALERT) return `${watch.failures} failed runs in a row`;
  if (watch.failing_since !== null && secondsSince(watch.failing_since, now) >= FAILING_ALERT_AFTER_SECONDS) {
    return `failing for ${formatAge(secondsSince(watch.failing_since, now))}, ${watch.failures} failed run${watch.failures === 1 ? "" : "s"} in a row`;
  }
  return null;
}

function runFailedMessage(dataset: string, watch: DatasetWatch, cause: string): string {
  const last = watch.last_failure!;
  const why = cause !== "no retry left" ? ` (${cause})` : last.attempt > 1 ? ` (attempt ${last.attempt}, no retry left)` : "";
  return `${dataset}: run ${last.run} ${last.outcome}${why}: ${last.reason ?? "no reason given"}. The previous version is still served.`;
}

/**
 * A reported run. A failed one counts into the dataset's run of failures, which starts the
 * run-failed condition when the scheduler will not retry it, at FAILURES_IN_A_ROW_ALERT failures in
 * a row, or FAILING_ALERT_AFTER_SECONDS after the first (also checked by the cron: `observeFailing`);
 * a run that confirmed the content ends both; any report ends the compute side's silence.
 */
export function observeRun(previous: AlertState, record: RunRecord, options: RaiseOptions): Transition {
  const transition = begin(previous);
  const { state } = transition;
  const watch = watchOf(state, record.dataset);
  const dataset = record.dataset;
  if (FAILED_OUTCOMES.has(record.outcome)) {
    watch.failing_since ??= record.failing_since ?? record.finished_at;
    watch.failures = Math.max(watch.failures + 1, record.consecutive_failures ?? 0);
    watch.last_failure = { run: record.id, outcome: record.outcome, reason: record.reason, attempt: record.attempt };
    const cause = watch.failing ? null : failingAlertCause(watch, record.will_retry !== true, options.now);
    if (cause !== null) {
      watch.failing = true;
      raise(transition, { dataset, kind: "run-failed", message: runFailedMessage(dataset, watch, cause) }, options);
    }
  } else if (confirmsContent(record.outcome)) {
    Object.assign(watch, { failing_since: null, failures: 0, last_failure: null });
    if (watch.failing) {
      watch.failing = false;
      raise(transition, { dataset, kind: "recovered", recovered: "run-failed", message: `${dataset}: runs succeed again (run ${record.id} ${record.outcome}).` }, options);
    }
  }
  state.datasets = { ...state.datasets, [dataset]: watch };
  state.last_run_at = latestTime([state.last_run_at, record.finished_at]);
  if (state.silent) {
    state.silent = false;
    raise(transition, { dataset: null, kind: "recovered", recovered: "scheduler-silent", message: `runs are reported again (${dataset}, run ${record.id}).` }, options);
  }
  return transition;
}

/**
 * The cron's (and each report's) look at datasets that keep failing while the scheduler retries:
 * one failing for FAILING_ALERT_AFTER_SECONDS alerts even when no further report arrives.
 */
export function observeFailing(previous: AlertState, options: RaiseOptions): Transition {
  const transition = begin(previous);
  const { state } = transition;
  for (const [dataset, stored] of Object.entries(state.datasets)) {
    const watch = DatasetWatchSchema.parse(stored);
    if (watch.failing || watch.last_failure === null) continue;
    const cause = failingAlertCause(watch, false, options.now);
    if (cause === null) continue;
    watch.failing = true;
    raise(transition, { dataset, kind: "run-failed", message: runFailedMessage(dataset, watch, cause) }, options);
    state.datasets = { ...state.datasets, [dataset]: watch };
  }
  return transition;
}

/** One dataset's freshness as the cron observed it. */
export interface FreshnessObservation {
  dataset: string;
  freshness: Freshness;
}

/**
 * The cron's look at every published dataset: a dataset going stale or fresh again changes its
 * condition; nothing reported and nothing confirmed for longer than the largest budget means the
 * compute side (the scheduler) has gone silent.
 */
export function observeFreshness(previous: AlertState, observations: readonly FreshnessObservation[], options: RaiseOptions): Transition {
  const transition = observeStaleness(previous, observations, options);
  const { state } = transition;
  const lastActivity = latestTime([state.last_run_at, ...observations.map((o) => o.freshness.checked_at)]);
  const largest = largestBudgetSeconds(observations.map((o) => o.freshness.max_age_seconds));
  const silent = isSilent(lastActivity, largest, options.now);
  if (silent && !state.silent) {
    const quiet = lastActivity === null ? "-" : formatAge((options.now.getTime() - Date.parse(lastActivity)) / 1000);
    raise(transition, { dataset: null, kind: "scheduler-silent", message: `no run reported and nothing confirmed for ${quiet}, longer than the largest budget (${formatAge(largest)}): is the scheduler running?` }, options);
  } else if (!silent && state.silent) {
    raise(transition, { dataset: null, kind: "recovered", recovered: "scheduler-silent", message: "datasets are confirmed again." }, options);
  }
  state.silent = silent;
  return transition;
}

/**
 * Some datasets' freshness (all of them from the cron, the reported one from a run report): a
 * dataset going stale or fresh again changes its condition.
 */
export function observeStaleness(previous: AlertState, observations: readonly FreshnessObservation[], options: RaiseOptions): Transition {
  const transition = begin(previous);
  const { state } = transition;
  for (const { dataset, freshness } of observations) {
    const watch = watchOf(state, dataset);
    const age = formatAge(freshness.age_seconds);
    const budget = formatAge(freshness.max_age_seconds);
    if (freshness.stale && !watch.stale) {
      raise(transition, { dataset, kind: "stale", message: `${dataset} is stale: last confirmed ${age} ago, over its budget of ${budget}.` }, options);
    } else if (!freshness.stale && watch.stale) {
      raise(transition, { dataset, kind: "recovered", recovered: "stale", message: `${dataset} is fresh again: confirmed ${age} ago, budget ${budget}.` }, options);
    }
    state.datasets = { ...state.datasets, [dataset]: { ...watch, stale: freshness.stale } };
  }
  return transition;
}
