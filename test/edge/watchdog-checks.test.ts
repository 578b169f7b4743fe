/**
 * Where the watchdog looks, inside workerd with the real R2 binding: the cron (once a minute)
 * raises the alert of a dataset that has kept failing for FAILING_ALERT_AFTER_SECONDS even when no
 * report arrives, and every run report is a check too: the reported dataset going stale alerts at
 * that report, not at the next cron minute, and the report checks other datasets' failures.
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { Alert } from "../../contract/index.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { onRunReported, watchFreshness } from "../../edge/watchdog/index.ts";
import { FAILING_ALERT_AFTER_SECONDS } from "../../edge/watchdog/state.ts";
import { BASE, publishFakeVersion, runRecord, uniqueDataset } from "./publish-fixture.ts";

const WEBHOOK = { EDGESNAP_ALERT_WEBHOOK: "https://hooks.example/alerts" };
const T0 = new Date(Date.now() - 3600_000);
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function recorder() {
  const posted: Alert[] = [];
  return { posted, post: async (_url: string, alert: Alert) => void posted.push(alert) };
}

beforeEach(async () => {
  for (const prefix of ["datasets/", "edge/", "catalog.json"]) {
    const listed = await env.SNAPSHOTS.list({ prefix });
    if (listed.objects.length > 0) await env.SNAPSHOTS.delete(listed.objects.map((o) => o.key));
  }
});

describe("the watchdog's checks", () => {
  it("raises a stale alert at the failing run's report that finds the dataset over its budget, before any cron minute", async () => {
    const dataset = uniqueDataset("stale-on-report");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: T0, maxAgeSeconds: 20 });
    const store = openR2Store(env);
    const { posted, post } = recorder();
    const failed = (s: number) => runRecord(dataset, { outcome: "failed", reason: "source down", will_retry: true, started_at: at(s).toISOString(), finished_at: at(s).toISOString() });
    await onRunReported(store, WEBHOOK, failed(10), `${BASE}/r`, { post, now: at(10) });
    expect(posted.map((a) => a.kind)).toEqual([]);
    await onRunReported(store, WEBHOOK, failed(21), `${BASE}/r`, { post, now: at(21) });
    expect(posted.map((a) => [a.kind, a.dataset])).toEqual([["stale", dataset]]);
    expect(posted[0]!.message).toBe(`${dataset} is stale: last confirmed 21s ago, over its budget of 20s.`);
  });

  it("raises the run-failed alert of a dataset failing for 45 s from the cron, with no report since its first failure", async () => {
    const dataset = uniqueDataset("failing-cron");
    const store = openR2Store(env);
    const { posted, post } = recorder();
    const first = runRecord(dataset, { outcome: "timed-out", reason: "exceeded the timeout of 90 s", will_retry: true, started_at: at(0).toISOString(), finished_at: at(0).toISOString() });
    await onRunReported(store, WEBHOOK, first, `${BASE}/r`, { post, now: at(0) });
    await watchFreshness(store, WEBHOOK, { post, now: at(FAILING_ALERT_AFTER_SECONDS - 1) });
    expect(posted).toEqual([]);
    await watchFreshness(store, WEBHOOK, { post, now: at(FAILING_ALERT_AFTER_SECONDS) });
    await watchFreshness(store, WEBHOOK, { post, now: at(120) });
    expect(posted.map((a) => [a.kind, a.dataset])).toEqual([["run-failed", dataset]]);
    expect(posted[0]!.message).toBe(`${dataset}: run ${first.id} timed-out (failing for 45s, 1 failed run in a row): exceeded the timeout of 90 s. The previous version is still served.`);
  });

  it("checks other datasets' failures when any run is reported", async () => {
    const failing = uniqueDataset("failing-other");
    const healthy = uniqueDataset("healthy-other");
    const store = openR2Store(env);
    const { posted, post } = recorder();
    await onRunReported(store, WEBHOOK, runRecord(failing, { outcome: "failed", will_retry: true, started_at: at(0).toISOString(), finished_at: at(0).toISOString() }), `${BASE}/r`, { post, now: at(0) });
    await onRunReported(store, WEBHOOK, runRecord(healthy, { outcome: "ok", started_at: at(50).toISOString(), finished_at: at(50).toISOString() }), `${BASE}/r`, { post, now: at(50) });
    expect(posted.map((a) => [a.kind, a.dataset])).toEqual([["run-failed", failing]]);
  });
});
