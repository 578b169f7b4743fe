/**
 * The watchdog inside workerd: one alert per change of state (a final failed run, a dataset going
 * stale, a silent compute side, each recovery), however often the same state is observed; alerts
 * delivered oldest first from an outbox that survives failed rounds; the status page and the
 * overview showing freshness and the last alert. (Delivery against a real HTTP receiver, with its
 * retries, is tested in Node against wrangler dev: test/freshness/alerts.test.ts.)
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { makeRunId, type AdminDataset, type Alert, type RunRecord } from "../../contract/index.ts";
import { refreshCatalog } from "../../contract/protocol/catalog.ts";
import { confirmUnchanged } from "../../contract/protocol/manifests.ts";
import worker from "../../edge/index.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { AlertRefused, deliverAlerts } from "../../edge/watchdog/deliver.ts";
import { onRunReported, watchFreshness } from "../../edge/watchdog/index.ts";
import { ALERT_STATE_KEY, AlertStateSchema } from "../../edge/watchdog/state.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const WEBHOOK = "https://hooks.example/alerts";
const withWebhook = { EDGESNAP_ALERT_WEBHOOK: WEBHOOK };
const T0 = new Date(Date.now() - 3600_000);
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** Records what would be posted, in order; `fail` decides per alert whether this attempt fails. */
function recorder(fail: (alert: Alert) => Error | null = () => null) {
  const posted: Alert[] = [];
  return {
    posted,
    post: async (url: string, alert: Alert) => {
      expect(url).toBe(WEBHOOK);
      const error = fail(alert);
      if (error) throw error;
      posted.push(alert);
    },
  };
}

function runRecord(dataset: string, overrides: Partial<RunRecord> = {}, finished = new Date()): RunRecord {
  return {
    id: makeRunId(finished, crypto.randomUUID().slice(0, 8)),
    dataset,
    trigger: "schedule",
    request_id: null,
    request_ids: [],
    started_at: finished.toISOString(),
    finished_at: finished.toISOString(),
    outcome: "ok",
    reason: null,
    duration_ms: 1000,
    peak_rss_bytes: null,
    rows: 1,
    bytes: 1,
    version: null,
    attempt: 1,
    ...overrides,
  };
}

async function callWorker(path: string, init: RequestInit = {}, vars: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${BASE}${path}`, init) as Request<unknown, IncomingRequestCfProperties>, { ...env, ...vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function report(record: RunRecord): Promise<void> {
  const res = await callWorker("/admin/v1/runs", {
    method: "POST",
    headers: { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/json" },
    body: JSON.stringify(record),
  });
  expect(res.status).toBe(201);
}

async function overview(dataset: string): Promise<AdminDataset> {
  return (await (await callWorker(`/admin/v1/datasets/${dataset}`, { headers: { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef" } })).json()) as AdminDataset;
}

async function storedState() {
  return AlertStateSchema.parse(JSON.parse(await (await env.SNAPSHOTS.get(ALERT_STATE_KEY))!.text()));
}

beforeEach(async () => {
  // Freshness and silence are judged over every dataset: each test starts from an empty bucket.
  for (const prefix of ["datasets/", "edge/", "catalog.json"]) {
    const listed = await env.SNAPSHOTS.list({ prefix });
    if (listed.objects.length > 0) await env.SNAPSHOTS.delete(listed.objects.map((o) => o.key));
  }
});

describe("alerts on reported runs", () => {
  it("alerts once when a run fails with no retry left, never for one the scheduler retries, and once on recovery", async () => {
    const dataset = uniqueDataset("runs");
    await report(runRecord(dataset, { outcome: "failed", reason: "build failed: boom", will_retry: true }));
    expect((await overview(dataset)).last_alert).toBeNull();

    await report(runRecord(dataset, { outcome: "timed-out", reason: "timed out after 90 s", attempt: 3, will_retry: false }));
    const failed = (await overview(dataset)).last_alert!;
    expect(failed).toMatchObject({ dataset, kind: "run-failed", recovered: null, status_url: `${BASE}/admin#ds-${dataset}` });
    expect(failed.message).toContain("timed out after 90 s");

    // The same state observed again (another final failure, a rejected build) raises nothing new.
    await report(runRecord(dataset, { outcome: "rejected", reason: "gate: too few rows" }));
    expect((await overview(dataset)).last_alert!.id).toBe(failed.id);

    await report(runRecord(dataset, { outcome: "unchanged" }));
    expect((await overview(dataset)).last_alert).toMatchObject({ dataset, kind: "recovered", recovered: "run-failed" });
    await report(runRecord(dataset, { outcome: "ok" }));
    expect((await storedState()).outbox).toEqual([]);
  });

  it("brings the catalog's checked_at up to date when an unchanged run is reported (unchanged runs send no publish notice)", async () => {
    const dataset = uniqueDataset("unchanged-catalog");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: new Date(Date.now() - 600_000), maxAgeSeconds: 300 });
    await refreshCatalog(openR2Store(env)); // as the publish notice did
    const storedEntry = async () =>
      ((JSON.parse(await (await env.SNAPSHOTS.get("catalog.json"))!.text()) as { datasets: { name: string; checked_at: string }[] }).datasets.find((d) => d.name === dataset))!;
    const before = (await storedEntry()).checked_at;
    await confirmUnchanged(openR2Store(env), dataset, info.hash);
    await report(runRecord(dataset, { outcome: "unchanged", version: info.version }));
    expect(Date.parse((await storedEntry()).checked_at)).toBeGreaterThan(Date.parse(before));
  });

  it("queues the alert for the webhook when one is configured, and delivers it in the same step", async () => {
    const dataset = uniqueDataset("queued");
    const { posted, post } = recorder();
    const store = openR2Store(env);
    await onRunReported(store, withWebhook, runRecord(dataset, { outcome: "memory-killed", reason: "over 1 GiB" }), `${BASE}/admin/v1/runs`, { post });
    expect(posted).toHaveLength(1);
    const body = posted[0]!;
    expect(Object.keys(body).sort()).toEqual(["dataset", "id", "kind", "message", "recovered", "status_url", "text", "time"]);
    expect(body).toMatchObject({ dataset, kind: "run-failed", status_url: `${BASE}/admin#ds-${dataset}` });
    // The Slack-compatible text carries the message and a link to the status page.
    expect(body.text).toBe(`edgesnap run-failed: ${body.message} <${BASE}/admin#ds-${dataset}|status page>`);
    expect((await storedState()).outbox).toEqual([]);
  });

  it("links to EDGESNAP_STATUS_URL when it is set", async () => {
    const dataset = uniqueDataset("status-url");
    const { posted, post } = recorder();
    await onRunReported(openR2Store(env), { ...withWebhook, EDGESNAP_STATUS_URL: "https://data.example.com/admin" }, runRecord(dataset, { outcome: "failed" }), `${BASE}/x`, { post });
    expect(posted[0]!.status_url).toBe(`https://data.example.com/admin#ds-${dataset}`);
  });
});

describe("alerts from the cron's freshness check", () => {
  it("alerts once when a dataset goes stale, however many minutes it stays so, and once when it is fresh again", async () => {
    const dataset = uniqueDataset("stale");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: T0, maxAgeSeconds: 600 });
    const store = openR2Store(env);
    const { posted, post } = recorder();
    // Runs keep being reported (failing), so the compute side is not silent.
    await onRunReported(store, withWebhook, runRecord(dataset, { outcome: "failed", reason: "source down" }, at(500)), `${BASE}/r`, { post, now: at(500) });
    for (const s of [300, 600, 601, 660, 720, 780]) {
      await onRunReported(store, withWebhook, runRecord(dataset, { outcome: "failed", reason: "source down" }, at(s)), `${BASE}/r`, { post, now: at(s) });
      await watchFreshness(store, withWebhook, { post, now: at(s) });
    }
    expect(posted.map((a) => a.kind)).toEqual(["run-failed", "stale"]);
    expect(posted[1]!.message).toBe(`${dataset} is stale: last confirmed 10m01s ago, over its budget of 10m00s.`);

    await confirmUnchanged(store, dataset, info.hash, { now: at(800) });
    await watchFreshness(store, withWebhook, { post, now: at(801) });
    await watchFreshness(store, withWebhook, { post, now: at(861) });
    expect(posted.map((a) => [a.kind, a.recovered])).toEqual([
      ["run-failed", null],
      ["stale", null],
      ["recovered", "stale"],
    ]);
  });

  it("alerts once when nothing is reported or confirmed for longer than the largest budget, and when runs come back", async () => {
    const a = uniqueDataset("silent-a");
    const b = uniqueDataset("silent-b");
    await publishFakeVersion(env, { dataset: a, records: [{ a: 1 }], generatedAt: T0, maxAgeSeconds: 300 });
    await publishFakeVersion(env, { dataset: b, records: [{ a: 1 }], generatedAt: T0, maxAgeSeconds: 900 });
    const store = openR2Store(env);
    const { posted, post } = recorder();
    await watchFreshness(store, withWebhook, { post, now: at(600) });
    expect(posted.map((x) => [x.kind, x.dataset])).toEqual([["stale", a]]);
    await watchFreshness(store, withWebhook, { post, now: at(901) });
    await watchFreshness(store, withWebhook, { post, now: at(1000) });
    expect(posted.map((x) => [x.kind, x.dataset])).toEqual([
      ["stale", a],
      ["stale", b],
      ["scheduler-silent", null],
    ]);
    expect(posted[2]!.message).toMatch(/longer than the largest budget \(15m00s\): is the scheduler running\?/);

    await onRunReported(store, withWebhook, runRecord(a, { outcome: "failed" }, at(1010)), `${BASE}/r`, { post, now: at(1010) });
    expect(posted.slice(3).map((x) => [x.kind, x.recovered, x.dataset])).toEqual([
      ["run-failed", null, a],
      ["recovered", "scheduler-silent", null],
    ]);
  });

  it("runs from the Worker's scheduled handler, and shows on the status page and in the overview", async () => {
    const dataset = uniqueDataset("cron");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: new Date(Date.now() - 700_000), maxAgeSeconds: 600 });
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const row = await overview(dataset);
    expect(row).toMatchObject({ stale: true, max_age_seconds: 600, last_alert: { kind: "stale", dataset } });

    const login = await callWorker("/admin/login", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: BASE },
      body: "token=test-token-0123456789abcdef0123456789abcdef",
      redirect: "manual",
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    // The session's other half, which the page's script sends when it asks for the view.
    const { key } = (await login.json()) as { key: string };
    const html = await (await callWorker("/admin", { headers: { Cookie: cookie, "X-Edgesnap-Key": key } })).text();
    const section = html.slice(html.indexOf(`id="ds-${dataset}"`));
    expect(section).toMatch(/data-field="freshness" data-stale="true">11m\d\ds of 10m00s <span class="badge">stale<\/span>/);
    expect(section).toMatch(/data-field="last-alert" data-kind="stale">.*is stale: last confirmed 11m\d\ds ago/);
    const tableRow = html.slice(html.indexOf(`<tr data-dataset="${dataset}">`));
    expect(tableRow.slice(0, tableRow.indexOf("</tr>"))).toContain('<span class="badge">stale</span>');
  });
});

describe("delivery", () => {
  it("delivers oldest first, stops a round at the first failure, and sends the rest in order in a later round", async () => {
    const store = openR2Store(env);
    const [a, b] = [uniqueDataset("order-a"), uniqueDataset("order-b")];
    let down = true;
    const { posted, post } = recorder(() => (down ? new Error("webhook answered 503") : null));
    await onRunReported(store, withWebhook, runRecord(a, { outcome: "failed" }), `${BASE}/r`, { post, now: at(0) });
    await onRunReported(store, withWebhook, runRecord(b, { outcome: "failed" }), `${BASE}/r`, { post, now: at(1) });
    expect(posted).toEqual([]);
    const waiting = (await storedState()).outbox;
    // b was not even tried: it waits behind a, which failed once.
    expect(waiting.map((e) => [e.alert.dataset, e.rounds])).toEqual([
      [a, 1],
      [b, 0],
    ]);
    // Not before its backoff: a round now sends nothing.
    down = false;
    expect((await deliverAlerts(store, WEBHOOK, { post, now: at(2) })).delivered).toEqual([]);
    const later = new Date(Date.parse(waiting[0]!.next_attempt_at));
    expect((await deliverAlerts(store, WEBHOOK, { post, now: later })).delivered).toHaveLength(2);
    expect(posted.map((x) => x.dataset)).toEqual([a, b]);
    expect((await storedState()).outbox).toEqual([]);
  });

  it("gives up an alert the receiver refuses (4xx) and goes on with the next", async () => {
    const store = openR2Store(env);
    const [a, b] = [uniqueDataset("refused-a"), uniqueDataset("refused-b")];
    const { posted, post } = recorder((alert) => (alert.dataset === a ? new AlertRefused("webhook refused the alert with 400") : null));
    await onRunReported(store, {}, runRecord(a, { outcome: "failed" }), `${BASE}/r`, { now: at(0) });
    // Without a webhook nothing is queued, yet the status page knows the alert.
    expect((await storedState()).outbox).toEqual([]);
    expect((await storedState()).last_alerts[a]).toMatchObject({ kind: "run-failed" });
    await onRunReported(store, withWebhook, runRecord(a, { outcome: "ok" }), `${BASE}/r`, { post, now: at(1) });
    await onRunReported(store, withWebhook, runRecord(b, { outcome: "failed" }), `${BASE}/r`, { post, now: at(2) });
    expect(posted.map((x) => [x.dataset, x.kind])).toEqual([[b, "run-failed"]]);
    expect((await storedState()).outbox).toEqual([]);
  });
});
