/**
 * The watchdog end to end, in Node against the real pieces: a real `wrangler dev` (local workerd,
 * R2 on disk) whose EDGESNAP_ALERT_WEBHOOK points at a real local HTTP receiver, and a real
 * scheduler running the real run child. `wrangler dev` fires no cron triggers, so the test drives
 * the Worker's scheduled handler with `GET /cdn-cgi/handler/scheduled`, as the cron would every
 * minute.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeRunId, type Alert, type RunRecord } from "../../contract/index.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import type { LogEntry } from "../../compute/scheduler/index.ts";
import { startOperatedScheduler, type OperatedScheduler } from "../../compute/scheduler/operated.ts";
import { freePort, waitFor } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "freshness-test-token-4c1d-0123456789abcdef";
const WATCHED = "fresh-watched";
/** The watched dataset's budget: long enough to see it fresh after a publish on a busy machine. */
const MAX_AGE_SECONDS = 15;

interface Received {
  alert: Alert;
  status: number;
}

/** A webhook receiver: records every POST and answers 503 to the first `failFirst` of each alert. */
async function startReceiver(): Promise<{ url: string; received: Received[]; failFirst: Map<string, number>; close(): Promise<void> }> {
  const received: Received[] = [];
  const failFirst = new Map<string, number>();
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const alert = JSON.parse(body) as Alert;
      const attempt = (seen.get(alert.id) ?? 0) + 1;
      seen.set(alert.id, attempt);
      const status = attempt <= (failFirst.get(alert.dataset ?? "*") ?? 0) ? 503 : 200;
      received.push({ alert, status });
      res.writeHead(status, { "Content-Type": "text/plain" }).end(status === 200 ? "ok" : "try later");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/edgesnap`, received, failFirst, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe("alerts from the edge, against wrangler dev, a webhook receiver and a running scheduler", () => {
  let work: string;
  let csv: string;
  let edge: WranglerDev;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let operated: OperatedScheduler | undefined;
  const logs: LogEntry[] = [];
  const edgeOutput: string[] = [];

  const delivered = (dataset: string | null) => receiver.received.filter((r) => r.status === 200 && r.alert.dataset === dataset).map((r) => r.alert);
  const context = () => `\nreceived: ${JSON.stringify(receiver.received.map((r) => [r.status, r.alert.kind, r.alert.dataset]))}\nscheduler: ${JSON.stringify(logs.slice(-10))}\nedge: ${edgeOutput.slice(-15).join("\n")}`;

  async function admin(pathname: string, body?: unknown): Promise<Response> {
    return fetch(`${edge.url}/admin/v1${pathname}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** Runs the Worker's cron handler once, as Cloudflare does every minute. */
  async function cronTick(): Promise<void> {
    const res = await fetch(`${edge.url}/cdn-cgi/handler/scheduled`);
    expect(res.status).toBe(200);
    await res.body?.cancel();
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-freshness-"));
    csv = path.join(work, "source.csv");
    receiver = await startReceiver();
    edge = await startWranglerDev({
      port: await freePort(),
      persistTo: path.join(work, "state"),
      configPath: path.join(REPO_ROOT, "wrangler.toml"),
      secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on", EDGESNAP_ALERT_WEBHOOK: receiver.url },
      onLine: (line) => edgeOutput.push(line),
    });
  }, 120_000);

  afterAll(async () => {
    await operated?.stop({ graceMs: 0 });
    await edge?.stop();
    await receiver?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("delivers a final failure once, retrying the webhook until it accepts, and then the recovery", async () => {
    const dataset = "fresh-reported";
    receiver.failFirst.set(dataset, 2);
    const record = (outcome: RunRecord["outcome"], willRetry: boolean): RunRecord => {
      const now = new Date();
      return {
        id: makeRunId(now, Math.random().toString(16).slice(2, 10).padEnd(8, "0")),
        dataset,
        trigger: "schedule",
        request_id: null,
        request_ids: [],
        started_at: now.toISOString(),
        finished_at: now.toISOString(),
        outcome,
        reason: outcome === "ok" ? null : "build failed: source unreachable",
        duration_ms: 10,
        peak_rss_bytes: null,
        rows: null,
        bytes: null,
        version: null,
        attempt: 1,
        will_retry: willRetry,
      };
    };
    expect((await admin("/runs", record("failed", true))).status).toBe(201);
    expect((await admin("/runs", record("failed", false))).status).toBe(201);
    const failure = await waitFor("the failure alert to be accepted", async () => delivered(dataset)[0], 30_000).catch((error: Error) => {
      throw new Error(error.message + context());
    });
    expect(failure).toMatchObject({ dataset, kind: "run-failed", status_url: `${edge.url}/admin#ds-${dataset}` });
    expect(failure.message).toContain("source unreachable");
    // The Worker retried the same alert through two 503s: three POSTs, one alert.
    expect(receiver.received.filter((r) => r.alert.id === failure.id).map((r) => r.status)).toEqual([503, 503, 200]);

    // The same state again raises nothing; the recovery is the next alert the receiver sees.
    expect((await admin("/runs", record("failed", false))).status).toBe(201);
    expect((await admin("/runs", record("ok", false))).status).toBe(201);
    const recovered = await waitFor("the recovery alert", async () => delivered(dataset)[1], 30_000);
    expect(recovered).toMatchObject({ dataset, kind: "recovered", recovered: "run-failed" });
    expect(delivered(dataset)).toHaveLength(2);
  }, 90_000);

  it("a scheduled dataset whose source breaks: a failure alert, then a stale alert, and /v1/health names it with 503", async () => {
    await writeFile(csv, "city,temp\nOslo,3\nLima,19\n");
    operated = await startOperatedScheduler(
      {
        config: { tempRoot: path.join(work, "runs"), metricsPort: 0, concurrency: 1, timezone: "UTC" },
        datasets: [{ name: WATCHED, schedule: "0 0 1 1 *" }],
        cwd: REPO_ROOT,
        env: {
          EDGESNAP_STORE: "local",
          EDGESNAP_PERSIST_TO: path.join(work, "state"),
          EDGESNAP_WRANGLER_CONFIG: path.join(REPO_ROOT, "wrangler.toml"),
          EDGESNAP_EDGE_URL: edge.url,
          EDGESNAP_TOKEN: TOKEN,
          EDGESNAP_DATASETS: "test/freshness/fixtures/datasets.ts",
          EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
          FRESH_SOURCE_CSV: csv,
          FRESH_MAX_AGE_SECONDS: String(MAX_AGE_SECONDS),
        },
        runAtStart: true,
        retries: 0,
        log: (entry) => logs.push(entry),
      },
      { edgeUrl: edge.url, token: TOKEN, pollIntervalMs: 300 },
    );
    const healthy = await waitFor(
      "the first publish to be served and healthy",
      async () => {
        const res = await fetch(`${edge.url}/v1/health`);
        const body = (await res.json()) as { ok: boolean; datasets: number };
        return res.status === 200 && body.datasets === 1 ? body : undefined;
      },
      90_000,
    ).catch((error: Error) => {
      throw new Error(error.message + context());
    });
    expect(healthy.ok).toBe(true);
    const catalog = (await (await fetch(`${edge.url}/v1/datasets`)).json()) as { datasets: { name: string; max_age_seconds: number }[] };
    expect(catalog.datasets.find((d) => d.name === WATCHED)?.max_age_seconds).toBe(MAX_AGE_SECONDS);

    // Break the source and ask for a run: it fails, and with no retry left the edge alerts.
    await rm(csv);
    expect((await admin(`/datasets/${WATCHED}/rebuild`, {})).status).toBe(202);
    const failure = await waitFor("the failure alert", async () => delivered(WATCHED).find((a) => a.kind === "run-failed"), 60_000).catch((error: Error) => {
      throw new Error(error.message + context());
    });
    expect(failure.message).toMatch(/^fresh-watched: run \S+ failed: /);

    // The cron notices the dataset outliving its budget: one stale alert, after the failure.
    const stale = await waitFor(
      "the stale alert",
      async () => {
        await cronTick();
        return delivered(WATCHED).find((a) => a.kind === "stale");
      },
      90_000,
      1_000,
    ).catch((error: Error) => {
      throw new Error(error.message + context());
    });
    expect(delivered(WATCHED).map((a) => a.kind)).toEqual(["run-failed", "stale"]);
    expect(stale.message).toMatch(new RegExp(`^${WATCHED} is stale: last confirmed \\S+ ago, over its budget of ${MAX_AGE_SECONDS}s\\.$`));
    expect(stale.text).toContain(`<${edge.url}/admin#ds-${WATCHED}|status page>`);

    const health = await fetch(`${edge.url}/v1/health`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as { ok: boolean; stale: { name: string; max_age_seconds: number }[] };
    expect(body.ok).toBe(false);
    expect(body.stale.map((s) => s.name)).toEqual([WATCHED]);
    // More cron ticks in the same state alert no more.
    await cronTick();
    await cronTick();

    // Repair the source: the next run confirms the content and both conditions end.
    await writeFile(csv, "city,temp\nOslo,3\nLima,19\n");
    expect((await admin(`/datasets/${WATCHED}/rebuild`, {})).status).toBe(202);
    await waitFor("the run recovery alert", async () => delivered(WATCHED).find((a) => a.recovered === "run-failed"), 60_000);
    await waitFor(
      "the freshness recovery alert",
      async () => {
        await cronTick();
        return delivered(WATCHED).find((a) => a.recovered === "stale");
      },
      30_000,
      1_000,
    );
    expect(delivered(WATCHED).filter((a) => a.kind !== "recovered").map((a) => a.kind)).toEqual(["run-failed", "stale"]);
    expect((await fetch(`${edge.url}/v1/health`)).status).toBe(200);
  }, 240_000);
});
