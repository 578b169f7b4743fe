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
import { AlertSchema, isSilent, largestBudgetSeconds, latestTime, type Alert, type AlertCondition, type Freshness } from "../../contract/freshness.ts";
import { confirmsContent, isFailedOutcome, RUN_OUTCOMES, type RunOutcome, type RunRecord } from "../../contract/run-record.ts";

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

const DatasetWatchSchema = z.object({
  /** The dataset's last final run (not followed by a retry) failed. */
  failing: z.boolean().default(false),
  stale: z.boolean().default(false),
});

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
    console.error(JSON.stringify({ level: "error", msg: "unreadable alert state; starting a new one", key: ALERT_STATE_KEY }));
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
    if (dropped > 0) console.error(JSON.stringify({ level: "error", msg: "alert outbox full; oldest alerts dropped", dropped }));
    state.outbox = outbox.slice(Math.max(0, dropped));
  }
}

function begin(state: AlertState): Transition {
  return { state: structuredClone(state), alerts: [] };
}

/**
 * A reported run: a failure the scheduler will not retry starts the dataset's run-failed condition,
 * a run that confirmed the content ends it; any report ends the compute side's silence.
 */
export function observeRun(previous: AlertState, record: RunRecord, options: RaiseOptions): Transition {
  const transition = begin(previous);
  const { state } = transition;
  const watch = { failing: false, stale: false, ...state.datasets[record.dataset] };
  const dataset = record.dataset;
  if (FAILED_OUTCOMES.has(record.outcome) && record.will_retry !== true && !watch.failing) {
    watch.failing = true;
    const attempts = record.attempt > 1 ? ` (attempt ${record.attempt}, no retry left)` : "";
    raise(transition, { dataset, kind: "run-failed", message: `${dataset}: run ${record.id} ${record.outcome}${attempts}: ${record.reason ?? "no reason given"}. The previous version is still served.` }, options);
  } else if (confirmsContent(record.outcome) && watch.failing) {
    watch.failing = false;
    raise(transition, { dataset, kind: "recovered", recovered: "run-failed", message: `${dataset}: runs succeed again (run ${record.id} ${record.outcome}).` }, options);
  }
  state.datasets = { ...state.datasets, [dataset]: watch };
  state.last_run_at = latestTime([state.last_run_at, record.finished_at]);
  if (state.silent) {
    state.silent = false;
    raise(transition, { dataset: null, kind: "recovered", recovered: "scheduler-silent", message: `runs are reported again (${dataset}, run ${record.id}).` }, options);
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
  const transition = begin(previous);
  const { state } = transition;
  for (const { dataset, freshness } of observations) {
    const watch = { failing: false, stale: false, ...state.datasets[dataset] };
    const age = formatAge(freshness.age_seconds);
    const budget = formatAge(freshness.max_age_seconds);
    if (freshness.stale && !watch.stale) {
      raise(transition, { dataset, kind: "stale", message: `${dataset} is stale: last confirmed ${age} ago, over its budget of ${budget}.` }, options);
    } else if (!freshness.stale && watch.stale) {
      raise(transition, { dataset, kind: "recovered", recovered: "stale", message: `${dataset} is fresh again: confirmed ${age} ago, budget ${budget}.` }, options);
    }
    state.datasets = { ...state.datasets, [dataset]: { ...watch, stale: freshness.stale } };
  }
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
