/**
 * The scheduler's links to the edge survive the edge being away: the run reporter queues records
 * (bounded) and sends them in order once the edge answers; the request poller logs one warning per
 * outage and keeps polling. A real HTTP server plays the edge so the failures are real sockets.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makeRunId, type RebuildRequest, type RunRecord } from "../../contract/index.ts";
import { createAdminClient } from "../../compute/admin-client/index.ts";
import type { LogEntry } from "../../compute/scheduler/index.ts";
import { startRebuildRequestPoller } from "../../compute/scheduler/rebuild-requests.ts";
import { createRunReporter } from "../../compute/scheduler/run-reporter.ts";
import { freePort, waitFor } from "../support/processes.ts";

const TOKEN = "resilience-token";

function record(i: number): RunRecord {
  const started = new Date(Date.UTC(2026, 10, 23, 12, 0, i));
  return {
    id: makeRunId(started, `0000000${i}`.slice(-8)),
    dataset: "flaky",
    trigger: "schedule",
    request_id: null,
    started_at: started.toISOString(),
    finished_at: started.toISOString(),
    outcome: "ok",
    reason: null,
    duration_ms: 10,
    peak_rss_bytes: null,
    rows: 1,
    bytes: 1,
    version: null,
    attempt: 1,
  };
}

/** A tiny stand-in edge on a fixed port that records what it receives. */
async function startFakeEdge(port: number, received: unknown[], pending: RebuildRequest[] = []): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "unauthorized", message: "no" } }));
        return;
      }
      if (req.url === "/admin/v1/runs") {
        received.push(JSON.parse(body));
        res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, key: "k" }));
      } else if (req.url === "/admin/v1/requests/pending") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ requests: pending }));
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe("run reporter", () => {
  it("queues records while the edge is down, drops the oldest beyond the bound, and sends the rest in order when it is back", async () => {
    const port = await freePort();
    const logs: LogEntry[] = [];
    const reporter = createRunReporter({
      client: createAdminClient({ edgeUrl: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 1000 }),
      log: (e) => logs.push(e),
      maxQueued: 3,
      retryMs: 100,
    });
    try {
      for (let i = 0; i < 5; i++) await expect(reporter.sink(record(i))).resolves.toBeUndefined();
      expect(reporter.queued()).toBe(3);
      expect(logs.filter((l) => l.event === "run-report-failed")).toHaveLength(1);
      expect(logs.filter((l) => l.event === "run-report-dropped").length).toBeGreaterThan(0);

      const received: RunRecord[] = [];
      servers.push(await startFakeEdge(port, received));
      await waitFor("the queue to drain", async () => (reporter.queued() === 0 ? true : undefined), 5000, 50);
      expect(received.map((r) => r.id)).toEqual([2, 3, 4].map((i) => record(i).id));
      expect(logs.some((l) => l.event === "run-report-recovered")).toBe(true);
    } finally {
      reporter.stop();
    }
  });
});

describe("rebuild request poller", () => {
  it("logs one warning per outage, never throws, and picks requests up once the edge answers", async () => {
    const port = await freePort();
    const logs: LogEntry[] = [];
    const triggered: string[] = [];
    const request: RebuildRequest = {
      id: "flaky.8235849599999-0123abcd",
      dataset: "flaky",
      state: "pending",
      force: false,
      created_at: new Date().toISOString(),
      claimed_at: null,
      completed_at: null,
      run_id: null,
      outcome: null,
      version: null,
      reason: null,
    };
    const client = createAdminClient({ edgeUrl: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 1000 });
    const poller = startRebuildRequestPoller({
      client: {
        pendingRequests: () => client.pendingRequests(),
        // Claims succeed once the edge is back (the fake edge does not implement them).
        claimRequest: async () => ({ ...request, state: "claimed" }),
        completeRequest: async () => ({ ...request, state: "done" }),
      },
      datasets: ["flaky"],
      trigger: (dataset, _kind, id) => {
        triggered.push(`${dataset}:${id}`);
        return "started";
      },
      log: (e) => logs.push(e),
      intervalMs: 50,
    });
    try {
      await expect(poller.pollOnce()).resolves.toBeUndefined();
      await new Promise((r) => setTimeout(r, 300));
      expect(logs.filter((l) => l.event === "edge-unreachable")).toHaveLength(1);
      expect(triggered).toEqual([]);

      servers.push(await startFakeEdge(port, [], [request, { ...request, id: "other.8235849599999-0123abcd", dataset: "other" }]));
      await waitFor("the request to be triggered", async () => (triggered.length > 0 ? true : undefined), 5000, 50);
      expect(triggered).toEqual([`flaky:${request.id}`]); // not "other": another scheduler's dataset
      expect(logs.some((l) => l.event === "edge-reachable")).toBe(true);
      expect(poller.inFlight()).toEqual([request.id]);
      poller.onRunFinished({ ...record(1), request_id: request.id, started_at: new Date().toISOString() });
      expect(poller.inFlight()).toEqual([]);
    } finally {
      await poller.stop();
    }
  });
});
