/**
 * The scheduler's links to the edge survive the edge being away: the run reporter queues records
 * (bounded) and resends them in order until the edge takes them (and with them the completion of
 * the requests they list); the request poller logs one warning per outage, keeps polling, and
 * reports a claim it cannot start as a record of its own. A real HTTP server plays the edge so the
 * failures are real sockets.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makeRunId, RunRecordSchema, type RebuildRequest, type RunRecord } from "../../contract/index.ts";
import { createEdgeClient } from "../../compute/edge-client/index.ts";
import { EdgesnapError } from "../../compute/errors.ts";
import type { LogEntry } from "../../compute/scheduler/index.ts";
import { startRebuildRequestPoller } from "../../compute/scheduler/rebuild-requests.ts";
import { createRunReporter } from "../../compute/scheduler/run-reporter.ts";
import { freePort, waitFor } from "../support/processes.ts";

const TOKEN = "resilience-token-0123456789abcdef";

function record(i: number): RunRecord {
  const started = new Date(Date.UTC(2026, 10, 23, 12, 0, i));
  return {
    id: makeRunId(started, `0000000${i}`.slice(-8)),
    dataset: "flaky",
    trigger: "schedule",
    request_id: null,
    request_ids: [],
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

/** A tiny stand-in edge on a fixed port that records what it receives; `failRuns` 503s that many run reports first. */
async function startFakeEdge(port: number, received: unknown[], pending: RebuildRequest[] = [], failRuns = 0): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "unauthorized", message: "no" } }));
        return;
      }
      if (req.url === "/admin/v1/runs" && failRuns > 0) {
        failRuns--;
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "unavailable", message: "busy" } }));
      } else if (req.url === "/admin/v1/runs") {
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
      client: createEdgeClient({ edgeUrl: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 1000 }),
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

  it("resends a record through the edge's failures until it is taken, request ids and all", async () => {
    const port = await freePort();
    const received: RunRecord[] = [];
    servers.push(await startFakeEdge(port, received, [], 3));
    const reporter = createRunReporter({
      client: createEdgeClient({ edgeUrl: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 1000 }),
      log: () => {},
      retryMs: 20,
    });
    try {
      const served = { ...record(7), trigger: "rebuild-request" as const, request_id: "flaky.8235849599999-0000000a", request_ids: ["flaky.8235849599999-0000000a", "flaky.8235849599998-0000000b"] };
      await reporter.sink(served);
      await reporter.sink(record(8));
      await waitFor("the queue to drain", async () => (reporter.queued() === 0 ? true : undefined), 5000, 20);
      expect(received).toEqual([served, record(8)]);
    } finally {
      reporter.stop();
    }
  });

  it("drops a record the edge refuses as malformed and goes on with the next", async () => {
    const sent: string[] = [];
    const logs: LogEntry[] = [];
    const reporter = createRunReporter({
      client: {
        reportRun: async (r) => {
          if (r.id === record(1).id) throw new EdgesnapError("config", "malformed record");
          sent.push(r.id);
        },
      },
      log: (e) => logs.push(e),
      retryMs: 20,
    });
    await reporter.sink(record(1));
    await reporter.sink(record(2));
    expect(sent).toEqual([record(2).id]);
    expect(reporter.queued()).toBe(0);
    expect(logs.map((l) => l.event)).toContain("run-report-refused");
    reporter.stop();
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
    const client = createEdgeClient({ edgeUrl: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 1000 });
    const reported: RunRecord[] = [];
    const poller = startRebuildRequestPoller({
      client: {
        pendingRequests: () => client.pendingRequests(),
        // Claims succeed once the edge is back (the fake edge does not implement them).
        claimRequest: async () => ({ ...request, state: "claimed" }),
      },
      report: (r) => reported.push(r),
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
      // A started run completes its request through its own record, never through the poller.
      expect(reported).toEqual([]);
    } finally {
      await poller.stop();
    }
  });

  it("reports a claim it cannot start as a failed or cancelled record that names the request", async () => {
    const pending = (dataset: string, n: number): RebuildRequest => ({
      id: `${dataset}.823584959999${n}-0123abcd`,
      dataset,
      state: "pending",
      force: false,
      created_at: new Date().toISOString(),
      claimed_at: null,
      completed_at: null,
      run_id: null,
      outcome: null,
      version: null,
      reason: null,
    });
    const broken = pending("broken", 1);
    const late = pending("late", 2);
    const reported: RunRecord[] = [];
    const poller = startRebuildRequestPoller({
      client: { pendingRequests: async () => [broken, late], claimRequest: async (id) => ({ ...(id === broken.id ? broken : late), state: "claimed" }) },
      datasets: ["broken", "late"],
      trigger: (dataset) => {
        if (dataset === "broken") throw new EdgesnapError("config", "dataset module compute/examples/broken.ts failed to load: boom");
        return "stopped";
      },
      report: (r) => reported.push(r),
      log: () => {},
      intervalMs: 5000,
    });
    try {
      await waitFor("both refusals", async () => (reported.length >= 2 ? true : undefined), 5000, 20);
      expect(reported.map((r) => [r.dataset, r.outcome, r.request_id, r.request_ids, r.trigger, r.will_retry])).toEqual([
        ["broken", "failed", broken.id, [broken.id], "rebuild-request", false],
        ["late", "cancelled", late.id, [late.id], "rebuild-request", false],
      ]);
      expect(reported[0]!.reason).toBe("could not start the run: dataset module compute/examples/broken.ts failed to load: boom");
      expect(reported[1]!.reason).toBe("the scheduler is stopping");
      for (const r of reported) expect(RunRecordSchema.parse(r)).toEqual(r);
    } finally {
      await poller.stop();
    }
  });
});
