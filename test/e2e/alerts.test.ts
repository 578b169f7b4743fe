/**
 * Freshness alerts end to end, under `npm start` exactly as the README starts it: the local Worker
 * gets EDGESNAP_ALERT_WEBHOOK (a real local HTTP receiver) from npm start's environment, and npm
 * start fires the Worker's cron itself. After the first publish the dataset's source is deleted:
 * a rebuild fails through its retries (a failure alert), then the dataset outlives its freshness
 * budget (a stale alert), and /v1/health answers 503 naming it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../../contract/index.ts";
import { readLocalToken } from "../../compute/embedded/local-token.ts";
import { startNpmStart, type NpmStart } from "../support/npm-start.ts";
import { waitFor } from "../support/processes.ts";

const DATASET = "e2e-watched";

describe("alerts from the local Worker under npm start", () => {
  let work: string;
  let csv: string;
  let system: NpmStart;
  let server: http.Server;
  const alerts: Alert[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-e2e-alerts-"));
    csv = path.join(work, "source.csv");
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\n");
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        alerts.push(JSON.parse(body) as Alert);
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    system = await startNpmStart({
      EDGESNAP_DATASETS: "test/e2e/fixtures/alerts.ts",
      EDGESNAP_PERSIST_TO: path.join(work, "state"),
      EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
      EDGESNAP_ALERT_WEBHOOK: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
      EDGESNAP_LOCAL_CRON_INTERVAL_MS: "2000",
      ALERT_SOURCE_CSV: csv,
    });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await new Promise((resolve) => server?.close(resolve));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("posts a failure alert, then a stale alert, and /v1/health answers 503 naming the dataset", async () => {
    await waitFor("the first publish", async () => ((await fetch(`${system.base}/v1/datasets/${DATASET}`)).status === 200 ? true : undefined), 90_000);
    expect((await fetch(`${system.base}/v1/health`)).status).toBe(200);

    await rm(csv);
    const token = readLocalToken(path.join(work, "state"));
    const rebuild = await fetch(`${system.base}/admin/v1/datasets/${DATASET}/rebuild`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    expect(rebuild.status).toBe(202);

    const kinds = () => alerts.filter((alert) => alert.dataset === DATASET).map((alert) => alert.kind);
    await waitFor("a failure alert", async () => (kinds().includes("run-failed") ? true : undefined), 90_000, 500);
    await waitFor("a stale alert", async () => (kinds().includes("stale") ? true : undefined), 90_000, 500);
    expect(kinds().indexOf("run-failed")).toBeLessThan(kinds().indexOf("stale"));
    // One alert per change of state, not one per cron tick.
    expect(kinds().filter((kind) => kind === "stale")).toHaveLength(1);
    const failure = alerts.find((alert) => alert.kind === "run-failed")!;
    expect(failure.message).toMatch(/source not found/);
    expect(failure.text).toContain(failure.message);

    const health = await fetch(`${system.base}/v1/health`);
    expect(health.status).toBe(503);
    const report = (await health.json()) as { ok: boolean; stale: { name: string }[] };
    expect(report.ok).toBe(false);
    expect(report.stale.map((entry) => entry.name)).toEqual([DATASET]);
  }, 240_000);
});
