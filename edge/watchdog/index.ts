/**
 * The watchdog: the Worker runs on Cloudflare whatever happens to the compute side, so it is where
 * a silent failure gets noticed. It sees every run record the scheduler reports and, from its cron,
 * every dataset's freshness; it alerts (webhook, log line, status page) once when a condition
 * starts and once when it ends: a run that failed with no retry left, a dataset over its freshness
 * budget, nothing reported for longer than the largest budget (the scheduler is down), recovery.
 * A dataset that keeps failing alerts within 2 minutes of its first failure whatever its schedule
 * (state.ts: FAILURES_IN_A_ROW_ALERT, FAILING_ALERT_AFTER_SECONDS). The cron runs once a minute
 * (Cloudflare's finest cron), and every run report is a check too.
 */
import { confirmsContent, currentSummary, type Alert, type RunRecord } from "../../contract/index.ts";
import { freshnessOf } from "../../contract/freshness.ts";
import { readAllHeads, refreshCatalog } from "../../contract/protocol/catalog.ts";
import { readVersioned, swapObject } from "../../contract/protocol/cas.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { log, errorFields } from "../log.ts";
import { deliverAlerts, type AlertPoster, type DeliveryReport } from "./deliver.ts";
import { readHead, type DatasetHead } from "../../contract/protocol/manifests.ts";
import {
  ALERT_STATE_KEY,
  emptyAlertState,
  observeFailing,
  observeFreshness,
  observeRun,
  observeStaleness,
  parseAlertState,
  type AlertState,
  type FreshnessObservation,
  type Transition,
} from "./state.ts";

/** The Worker settings the watchdog reads. */
export interface WatchdogEnv {
  /** Secret: where alerts are posted. Unset or empty: alerts are logged and shown, not posted. */
  EDGESNAP_ALERT_WEBHOOK?: string;
  /** The status page's address for the alerts' links; empty: learned from the run reports. */
  EDGESNAP_STATUS_URL?: string;
}

export interface WatchOptions {
  now?: Date;
  /** Default: `postAlert` (tests record instead). */
  post?: AlertPoster;
}

function webhookOf(env: WatchdogEnv): string | null {
  const url = env.EDGESNAP_ALERT_WEBHOOK?.trim();
  return url ? url : null;
}

function logAlert(alert: Alert): void {
  const fields = { alert: alert.id, dataset: alert.dataset, kind: alert.kind, recovered: alert.recovered, message: alert.message };
  if (alert.kind === "recovered") log.info("alert", fields);
  else log.warn("alert", fields);
}

/** Applies a transition to the stored state by compare-and-swap; logs and returns the alerts it raised. */
async function transition(store: ObjectStore, change: (state: AlertState) => Transition): Promise<Alert[]> {
  let alerts: Alert[] = [];
  await swapObject<AlertState>(store, ALERT_STATE_KEY, {
    parse: parseAlertState,
    what: "the alert state",
    change(current) {
      const next = change(current ?? emptyAlertState());
      alerts = next.alerts;
      return next.state;
    },
  });
  alerts.forEach(logAlert);
  return alerts;
}

async function deliver(store: ObjectStore, env: WatchdogEnv, options: WatchOptions): Promise<DeliveryReport | null> {
  const webhook = webhookOf(env);
  return webhook === null ? null : deliverAlerts(store, webhook, options);
}

/** The status page address seen from a request to the Worker (what the scheduler reports runs to). */
export function statusPageFrom(requestUrl: string): string {
  return `${new URL(requestUrl).origin}/admin`;
}

/** A published dataset's freshness at `now`, as the watchdog observes it (null before a first version). */
function observationOf(head: DatasetHead, now: Date): FreshnessObservation | null {
  const info = currentSummary(head);
  if (info === undefined) return null;
  return { dataset: head.dataset, freshness: freshnessOf({ ...head, generated_at: info.generated_at }, now) };
}

/**
 * After the scheduler reported a run: the catalog's `checked_at` follows a run that confirmed the
 * content (an unchanged run sends no publish notice), the run is observed, and so are the reported
 * dataset's freshness and every dataset's run of failures (a report is a check too: between two
 * cron minutes, a failing dataset's reports notice it going stale), and due alerts are sent.
 * Run it with `waitUntil`: it never delays the report's answer. Each step's failure is logged and
 * does not stop the next.
 * @param requestUrl the report's URL, from which the status page's address is learned
 */
export async function onRunReported(store: ObjectStore, env: WatchdogEnv, record: RunRecord, requestUrl: string, options: WatchOptions = {}): Promise<Alert[]> {
  const now = options.now ?? new Date();
  if (confirmsContent(record.outcome)) await step("catalog refresh", () => refreshCatalog(store));
  const raiseOptions = { now, statusUrl: env.EDGESNAP_STATUS_URL, deliver: webhookOf(env) !== null };
  const head = (await step("head read", () => readHead(store, record.dataset)))?.value.head ?? null;
  const observation = head === null ? null : observationOf(head, now);
  const alerts =
    (await step("run observation", () =>
      transition(store, (state) => {
        const observed = observeRun({ ...state, status_url: statusPageFrom(requestUrl) }, record, raiseOptions);
        const stale = observeStaleness(observed.state, observation ? [observation] : [], raiseOptions);
        const failing = observeFailing(stale.state, raiseOptions);
        return { state: failing.state, alerts: [...observed.alerts, ...stale.alerts, ...failing.alerts] };
      }),
    )) ?? [];
  await step("alert delivery", () => deliver(store, env, { ...options, now }));
  return alerts;
}

/**
 * The cron's watch: every published dataset's freshness against its budget, and the compute side's
 * silence; then the due alerts are sent (also those an earlier round could not deliver).
 */
export async function watchFreshness(store: ObjectStore, env: WatchdogEnv, options: WatchOptions = {}): Promise<Alert[]> {
  const now = options.now ?? new Date();
  const { heads } = await readAllHeads(store);
  const observations = heads.flatMap(({ head }) => observationOf(head, now) ?? []);
  const raiseOptions = { now, statusUrl: env.EDGESNAP_STATUS_URL, deliver: webhookOf(env) !== null };
  const alerts = await transition(store, (state) => {
    const fresh = observeFreshness(state, observations, raiseOptions);
    const failing = observeFailing(fresh.state, raiseOptions);
    return { state: failing.state, alerts: [...fresh.alerts, ...failing.alerts] };
  });
  await step("alert delivery", () => deliver(store, env, { ...options, now }));
  return alerts;
}

/** The last alert per dataset (key "*": about the compute side), for the status page and overview. */
export async function readLastAlerts(store: ObjectStore): Promise<Record<string, Alert>> {
  const read = await readVersioned(store, ALERT_STATE_KEY, parseAlertState);
  return read?.value.last_alerts ?? {};
}

async function step<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    log.error("watchdog step failed", { step: what, error: errorFields(error) });
    return undefined;
  }
}
