/**
 * A dataset on a seconds schedule whose source breaks after the first publish: the scenario where
 * every failed run is retried and each retry is pre-empted by the next scheduled run, so "failed
 * with no retry left" never comes (the run-failed alert used to arrive ~3 minutes late). Real
 * processes: `wrangler dev` posting to a real webhook receiver, and `edgesnap scheduler` running
 * the real run child; the Worker's cron is never fired, so every alert comes from the report path.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../../contract/index.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { freePort, logEntries, spawnCli, type SpawnedCli, waitFor } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "frequent-failing-token-7a2e0123456789";
const DATASET = "freq-failing";

describe("a dataset failing on a 4-second schedule, every run retried", () => {
  let work: string;
  let csv: string;
  let edge: WranglerDev;
  let server: http.Server;
  let scheduler: SpawnedCli;
  const alerts: Alert[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-frequent-"));
    csv = path.join(work, "source.csv");
    await writeFile(csv, "city,temp\nOslo,3\nLima,19\n");
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        alerts.push(JSON.parse(body) as Alert);
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    edge = await startWranglerDev({
      port: await freePort(),
      persistTo: path.join(work, "state"),
      configPath: path.join(REPO_ROOT, "wrangler.toml"),
      secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on", EDGESNAP_ALERT_WEBHOOK: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` },
      onLine: () => {},
    });
    scheduler = spawnCli(
      ["scheduler"],
      {
        EDGESNAP_STORE: "local",
        EDGESNAP_PERSIST_TO: path.join(work, "state"),
        EDGESNAP_WRANGLER_CONFIG: path.join(REPO_ROOT, "wrangler.toml"),
        EDGESNAP_EDGE_URL: edge.url,
        EDGESNAP_TOKEN: TOKEN,
        EDGESNAP_DATASETS: "test/freshness/fixtures/frequent.ts",
        EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
        FREQUENT_SOURCE_CSV: csv,
      },
      { timeoutMs: 240_000 },
    );
  }, 120_000);

  afterAll(async () => {
    scheduler?.kill();
    await edge?.stop();
    await new Promise((resolve) => server?.close(resolve));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("alerts run-failed at the third failure in a row and stale at a report past the budget, with no cron tick", async () => {
    const entries = () => logEntries(scheduler.stdout());
    const context = () => `\nalerts: ${JSON.stringify(alerts.map((a) => [a.kind, a.time]))}\nscheduler: ${scheduler.stdout().slice(-3000)}`;
    await waitFor("the first publish", async () => ((await fetch(`${edge.url}/v1/datasets/${DATASET}`)).status === 200 ? true : undefined), 90_000);

    await rm(csv);
    const failure = await waitFor("the run-failed alert", async () => alerts.find((a) => a.dataset === DATASET && a.kind === "run-failed"), 120_000).catch((e: Error) =>
      Promise.reject(new Error(e.message + context())),
    );
    const failed = entries().filter((e) => e.event === "run-finished" && e.outcome === "failed");
    // Every failed run was to be retried: "no retry left" never came, the count across triggers did.
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(failed.slice(0, 3).map((e) => e.willRetry)).toEqual([true, true, true]);
    expect(failed.slice(0, 3).map((e) => e.consecutiveFailures)).toEqual([1, 2, 3]);
    expect(failure.message, failure.message).toMatch(new RegExp(`^${DATASET}: run \\S+ failed \\(3 failed runs in a row\\): `));

    const stale = await waitFor("the stale alert, from a run report", async () => alerts.find((a) => a.dataset === DATASET && a.kind === "stale"), 90_000);
    expect(stale.message).toMatch(new RegExp(`^${DATASET} is stale: last confirmed \\S+ ago, over its budget of 20s\\.$`));
    // One alert per change of state, however many runs keep failing.
    await waitFor("two more failed runs", async () => (entries().filter((e) => e.event === "run-finished" && e.outcome === "failed").length >= failed.length + 2 ? true : undefined), 60_000);
    expect(alerts.filter((a) => a.dataset === DATASET).map((a) => a.kind)).toEqual(["run-failed", "stale"]);

    const firstFailure = Date.parse(failed[0]!.time);
    const lastPublish = entries().find((e) => e.event === "run-finished" && e.outcome === "ok")!;
    console.log(
      `first failure -> run-failed alert: ${((Date.parse(failure.time) - firstFailure) / 1000).toFixed(1)} s; ` +
        `stale alert ${((Date.parse(stale.time) - Date.parse(lastPublish.time)) / 1000).toFixed(1)} s after the last publish (budget 20 s); no cron tick`,
    );
  }, 300_000);
});
