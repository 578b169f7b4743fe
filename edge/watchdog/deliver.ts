/**
 * Delivering alerts to the webhook (EDGESNAP_ALERT_WEBHOOK): a POST of the alert as JSON, retried
 * with backoff (contract/retry.ts) within one round; alerts wait in the state's outbox until a round
 * delivers them, so an alert survives a receiver that is down for a while and an isolate that dies
 * mid-delivery (then at least once: a receiver may see an alert twice, with the same `id`).
 *
 * A round first takes a lease on the due alerts (one swap), posts them oldest first and stops at
 * the first that fails, so a receiver sees them in order (a newer alert waits while an older one
 * does); then one swap removes what was delivered and sets the next round's time for the rest.
 *
 * The webhook URL is a secret (a Slack incoming webhook's path is its credential): it is never
 * logged, and no error message that could quote it (a fetch failure names the address) reaches a
 * log unredacted. Redirects are not followed: a redirect could send the alert, and the next
 * request's log line, anywhere, so a 3xx answer is a refusal naming the fix (set the final URL).
 */
import type { Alert } from "../../contract/freshness.ts";
import { swapObject } from "../../contract/protocol/cas.ts";
import { isRetryableStatus, retryAfterMs, withRetry, type RetryOptions } from "../../contract/retry.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { ALERT_STATE_KEY, parseAlertState, type AlertState } from "./state.ts";
import { log } from "../log.ts";

/** How long a round owns the alerts it took: longer than a Worker lives after its response (30 s). */
export const DELIVERY_LEASE_MS = 60_000;
/** Delay before the next round after a failed one, doubled each round up to DELIVERY_MAX_DELAY_MS. */
export const DELIVERY_ROUND_DELAY_MS = 60_000;
export const DELIVERY_MAX_DELAY_MS = 60 * 60_000;
/** Rounds before an alert is given up (about seven hours of trying). */
export const DELIVERY_MAX_ROUNDS = 12;
/** One POST's time limit. */
export const DELIVERY_TIMEOUT_MS = 5_000;
/** Attempts within a round, with their backoff. */
export const DELIVERY_RETRY: Pick<RetryOptions, "attempts" | "baseDelayMs" | "maxDelayMs"> = { attempts: 4, baseDelayMs: 500, maxDelayMs: 4_000 };

/** The receiver refused the alert itself (a 4xx other than 429): sending it again cannot help. */
export class AlertRefused extends Error {}

class RetryableDelivery extends Error {
  readonly retryAfter: number | undefined;
  constructor(message: string, retryAfter?: number) {
    super(message);
    this.retryAfter = retryAfter;
  }
}

/** What stands in for the webhook's address in any message that might quote it. */
const REDACTED = "[webhook]";

/**
 * `message` with every trace of the webhook removed: the URL itself, its host and path, and any
 * other URL (a redirect target, an address a fetch error names).
 */
export function redactWebhook(message: string, webhook: string): string {
  let text = message.split(webhook).join(REDACTED);
  try {
    const url = new URL(webhook);
    for (const part of [url.host, url.pathname.length > 1 ? url.pathname : ""]) if (part !== "") text = text.split(part).join(REDACTED);
  } catch {
    // Not a URL: the whole value was removed above.
  }
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, REDACTED);
}

/**
 * Escapes what Slack's message text treats as markup (`&`, `<`, `>`), so a reason or a dataset's
 * message cannot mention `<!channel>` or forge a link.
 * https://api.slack.com/reference/surfaces/formatting#escaping
 */
export function escapeSlackText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * The JSON body posted for an alert: the alert as it is, with `text` (what Slack-compatible
 * receivers show) made from its parts, each escaped, and the status page as the one link.
 */
export function webhookPayload(alert: Alert): Alert {
  const label = alert.kind === "recovered" ? `recovered (${alert.recovered})` : alert.kind;
  const link = alert.status_url ? ` <${escapeSlackText(alert.status_url).replace(/\|/g, "%7C")}|status page>` : "";
  return { ...alert, text: `edgesnap ${escapeSlackText(label)}: ${escapeSlackText(alert.message)}${link}` };
}

/** Posts one alert. */
export type AlertPoster = (webhook: string, alert: Alert) => Promise<void>;

/** Options of `postAlert` (tests pass a short backoff). */
export type PostOptions = Pick<RetryOptions, "attempts" | "baseDelayMs" | "maxDelayMs" | "sleep">;

/**
 * POSTs an alert as JSON (`webhookPayload`), retrying network errors, timeouts, 5xx and 429 with
 * backoff; never follows a redirect. Error messages never contain the webhook's address.
 * @throws {AlertRefused} for a 3xx or another 4xx; the last error when every attempt failed
 */
export async function postAlert(webhook: string, alert: Alert, options: PostOptions = {}): Promise<void> {
  await withRetry(
    async () => {
      let response: Response;
      try {
        response = await fetch(webhook, {
          method: "POST",
          headers: { "Content-Type": "application/json", "User-Agent": "edgesnap-watchdog" },
          body: JSON.stringify(webhookPayload(alert)),
          redirect: "manual",
          signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        });
      } catch (error) {
        throw new RetryableDelivery(`webhook unreachable: ${redactWebhook(error instanceof Error ? error.message : String(error), webhook)}`);
      }
      await response.body?.cancel();
      if (response.ok) return;
      if (isRetryableStatus(response.status)) throw new RetryableDelivery(`webhook answered ${response.status}`, retryAfterMs(response.headers.get("Retry-After")));
      if (response.status >= 300 && response.status < 400) {
        throw new AlertRefused(`webhook answered a redirect (${response.status}), which is not followed: set EDGESNAP_ALERT_WEBHOOK to the address it redirects to`);
      }
      throw new AlertRefused(`webhook refused the alert with ${response.status}`);
    },
    {
      ...DELIVERY_RETRY,
      ...options,
      shouldRetry: (error) => error instanceof RetryableDelivery,
      delayFor: (error) => (error instanceof RetryableDelivery ? error.retryAfter : undefined),
    },
  );
}

function swapState(store: ObjectStore, change: (state: AlertState) => AlertState | null) {
  return swapObject<AlertState>(store, ALERT_STATE_KEY, {
    parse: parseAlertState,
    what: "the alert state",
    change: (current) => (current === null ? null : change(current)),
  });
}

/** What one round did. */
export interface DeliveryReport {
  delivered: string[];
  /** Alerts whose round failed (tried again later) or that were given up. */
  failed: { id: string; error: string; givenUp: boolean }[];
}

/**
 * Delivers the due alerts of the outbox, oldest first.
 * @param post default `postAlert`
 */
export async function deliverAlerts(store: ObjectStore, webhook: string, options: { now?: Date; post?: AlertPoster } = {}): Promise<DeliveryReport> {
  const now = options.now ?? new Date();
  const post = options.post ?? ((url, alert) => postAlert(url, alert));
  let claimed: Alert[] = [];
  await swapState(store, (state) => {
    // Only the oldest alerts up to the first that is not due: a newer alert never overtakes an older one.
    const waiting = state.outbox.findIndex((entry) => Date.parse(entry.next_attempt_at) > now.getTime());
    const due = waiting === -1 ? state.outbox : state.outbox.slice(0, waiting);
    claimed = due.map((entry) => entry.alert);
    if (due.length === 0) return null;
    const lease = new Date(now.getTime() + DELIVERY_LEASE_MS).toISOString();
    return { ...state, outbox: state.outbox.map((entry) => (due.includes(entry) ? { ...entry, next_attempt_at: lease } : entry)) };
  });
  const report: DeliveryReport = { delivered: [], failed: [] };
  if (claimed.length === 0) return report;
  let failure: { id: string; error: string; refused: boolean } | null = null;
  for (const alert of claimed) {
    try {
      await post(webhook, alert);
      report.delivered.push(alert.id);
    } catch (error) {
      // A poster other than postAlert may not redact: the message is redacted here again.
      failure = { id: alert.id, error: redactWebhook(error instanceof Error ? error.message : String(error), webhook), refused: error instanceof AlertRefused };
      break;
    }
  }
  const untried = new Set(claimed.slice(report.delivered.length + (failure ? 1 : 0)).map((alert) => alert.id));
  await swapState(store, (state) => settle(state, report, failure, untried, now));
  if (failure) log.warn("alert delivery failed", { alert: failure.id, error: failure.error });
  return report;
}

/** The outbox after a round: delivered alerts gone, the failed one (and those after it) later. */
function settle(state: AlertState, report: DeliveryReport, failure: { id: string; error: string; refused: boolean } | null, untried: Set<string>, now: Date): AlertState {
  const delivered = new Set(report.delivered);
  const outbox = [];
  let nextRound = now.toISOString();
  for (const entry of state.outbox) {
    if (delivered.has(entry.alert.id)) continue;
    if (failure && entry.alert.id === failure.id) {
      const rounds = entry.rounds + 1;
      const givenUp = failure.refused || rounds >= DELIVERY_MAX_ROUNDS;
      report.failed.push({ id: entry.alert.id, error: failure.error, givenUp });
      if (givenUp) {
        log.error("alert given up", { alert: entry.alert.id, rounds, error: failure.error });
        continue;
      }
      nextRound = new Date(now.getTime() + Math.min(DELIVERY_MAX_DELAY_MS, DELIVERY_ROUND_DELAY_MS * 2 ** (rounds - 1))).toISOString();
      outbox.push({ ...entry, rounds, next_attempt_at: nextRound });
    } else if (untried.has(entry.alert.id)) {
      // Not tried because an older alert failed: it waits for the same round, keeping the order.
      outbox.push({ ...entry, next_attempt_at: nextRound });
    } else {
      outbox.push(entry);
    }
  }
  return { ...state, outbox };
}
