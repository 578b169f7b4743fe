/**
 * The pieces of the embedded default that keep two starts apart: the state-dir lock (refused while
 * its holder lives, taken over once it is gone, even when its pid has been reused or the file is
 * garbage), the readiness check that tells our Worker from another one on the port, and the one
 * rule every command uses to find the edge and its token. And what keeps one start alive and
 * readable: the liveness probe of its Worker (against a real socket that stops answering), the
 * restart budget, and the filter of wrangler's output.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveEdgeUrl, resolveToken } from "../../compute/edge-client/connect.ts";
import { allowRestart, MAX_EDGE_RESTARTS } from "../../compute/cli/commands/start.ts";
import { probeWorker, watchEdgeLiveness } from "../../compute/embedded/edge-liveness.ts";
import { writeLocalToken } from "../../compute/embedded/local-token.ts";
import { acquireStateLock, STATE_LOCK_FILE } from "../../compute/embedded/state-lock.ts";
import { waitForWorker } from "../../compute/embedded/wrangler-dev.ts";
import { createWranglerLineFilter, SCHEDULED_NOTE } from "../../compute/embedded/wrangler-output.ts";
import { EdgesnapError } from "../../compute/errors.ts";
import { selfProcStat } from "../../compute/scheduler/proc.ts";

describe("the state-dir lock", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "edgesnap-lock-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is refused in one line naming the holder's pid while the holder lives, and free again once released", () => {
    const lock = acquireStateLock(dir);
    expect(JSON.parse(readFileSync(lock.file, "utf8"))).toEqual({ pid: process.pid, startTime: selfProcStat().startTime });
    let refusal: unknown;
    try {
      acquireStateLock(dir);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(EdgesnapError);
    expect((refusal as EdgesnapError).exitCode).toBe(2);
    expect((refusal as EdgesnapError).message).toMatch(new RegExp(`^another edgesnap start \\(pid ${process.pid}\\) is running on `));
    lock.release();
    acquireStateLock(dir).release();
  });

  it("takes over a lock whose holder is gone (a reused pid) or that is garbage", async () => {
    const file = path.join(dir, STATE_LOCK_FILE);
    await writeFile(file, JSON.stringify({ pid: process.pid, startTime: selfProcStat().startTime + 1 }));
    const lock = acquireStateLock(dir);
    expect(lock.tookOver).toEqual({ pid: process.pid, startTime: selfProcStat().startTime + 1 });
    lock.release();
    await writeFile(file, "{half a lock");
    const again = acquireStateLock(dir);
    expect(again.tookOver).toBeNull();
    again.release();
    expect(() => readFileSync(file)).toThrow();
  });

  it("is released only by its holder", async () => {
    const lock = acquireStateLock(dir);
    const someoneElses = JSON.stringify({ pid: 1, startTime: 1 });
    await writeFile(lock.file, someoneElses);
    lock.release();
    expect(readFileSync(lock.file, "utf8")).toBe(someoneElses);
  });
});

describe("waiting for our Worker", () => {
  let server: http.Server;
  let url: string;
  afterEach(() => server?.close());

  async function serve(adminStatus: number) {
    server = http.createServer((req, res) => res.writeHead(req.url === "/healthz" ? 200 : adminStatus).end("{}"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("refuses a Worker that answers /healthz but not to our token", async () => {
    await serve(401);
    await expect(waitForWorker(url, { adminToken: "ours", timeoutMs: 10_000 })).rejects.toThrow(`another Worker answers on ${url}`);
  });

  it("accepts the Worker that takes our token", async () => {
    await serve(200);
    await expect(waitForWorker(url, { adminToken: "ours", timeoutMs: 10_000 })).resolves.toBeUndefined();
  });
});

describe("where every command finds the edge", () => {
  it("takes --url, else --port, else EDGESNAP_EDGE_URL, else the local default", () => {
    const env = { EDGESNAP_EDGE_URL: "https://edge.example.com/" };
    expect(resolveEdgeUrl({ url: "http://127.0.0.1:9000" }, env)).toBe("http://127.0.0.1:9000");
    expect(resolveEdgeUrl({ port: "8790" }, env)).toBe("http://127.0.0.1:8790");
    expect(resolveEdgeUrl({}, env)).toBe("https://edge.example.com");
    expect(resolveEdgeUrl({}, {})).toBe("http://127.0.0.1:8787");
  });

  it("refuses a bad port, a bad URL and both flags at once with a config error", () => {
    for (const args of [{ port: "99999" }, { port: "80a" }, { url: "ftp://x" }, { url: "http://a", port: "1" }]) {
      expect(() => resolveEdgeUrl(args, {})).toThrow(EdgesnapError);
    }
    expect(() => resolveEdgeUrl({}, { EDGESNAP_EDGE_URL: "not a url" })).toThrow("invalid setting EDGESNAP_EDGE_URL");
  });

  it("finds a local start's token beside its state for a loopback URL only", async () => {
    const state = await mkdtemp(path.join(os.tmpdir(), "edgesnap-token-"));
    try {
      await writeLocalToken(state, "local-secret");
      const env = { EDGESNAP_PERSIST_TO: state };
      expect(resolveToken({}, "http://127.0.0.1:8787", env)).toBe("local-secret");
      expect(resolveToken({}, "https://edge.example.com", env)).toBeUndefined();
      expect(resolveToken({}, "http://127.0.0.1:8787", { ...env, EDGESNAP_TOKEN: "configured" })).toBe("configured");
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });
});

describe("the liveness probe of the local Worker", () => {
  let server: http.Server;
  let url: string;
  let answering = true;
  let probes = 0;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  beforeEach(async () => {
    answering = true;
    probes = 0;
    // Like the hung edge after a kill -9 of its workerd: the port accepts, the answer never comes.
    server = http.createServer((req, res) => {
      probes++;
      if (answering) res.writeHead(req.url === "/healthz" ? 200 : 404).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  it("calls the edge dead after the set number of failed health checks in a row, once, with the reason", async () => {
    const deaths: string[] = [];
    const watch = watchEdgeLiveness({ url, intervalMs: 50, timeoutMs: 200, failures: 3, onDead: (reason) => deaths.push(reason) });
    try {
      await waitForValue(() => (probes >= 4 ? true : undefined), 10_000);
      expect(deaths).toEqual([]);
      answering = false;
      await waitForValue(() => (deaths.length > 0 ? deaths : undefined), 10_000);
    } finally {
      await watch.stop();
    }
    expect(deaths).toEqual(["3 health checks in a row failed, the last: no answer within 200 ms"]);
  });

  it("forgives failures that do not come in a row", async () => {
    const deaths: string[] = [];
    server.removeAllListeners("request");
    // Every other probe fails: never two in a row.
    server.on("request", (_req, res) => res.writeHead(probes++ % 2 === 0 ? 503 : 200).end());
    const watch = watchEdgeLiveness({ url, intervalMs: 30, timeoutMs: 500, failures: 2, onDead: (reason) => deaths.push(reason) });
    await waitForValue(() => (probes >= 8 || deaths.length > 0 ? true : undefined), 10_000);
    await watch.stop();
    expect(deaths).toEqual([]);
  });

  it("names a refused connection as the reason", async () => {
    const port = (server.address() as AddressInfo).port;
    server.close();
    expect(await probeWorker(`http://127.0.0.1:${port}`, 1000)).toBe("ECONNREFUSED");
  });
});

describe("restarts of an edge that stopped answering", () => {
  it("allows a few in a window, then refuses, and forgets the old ones", () => {
    const restarts: number[] = [];
    const start = 1_000_000;
    for (let i = 0; i < MAX_EDGE_RESTARTS; i++) {
      expect(allowRestart(restarts, start + i)).toBe(true);
      restarts.push(start + i);
    }
    expect(allowRestart(restarts, start + 10)).toBe(false);
    expect(allowRestart(restarts, start + 10 * 60_000 + 5)).toBe(true);
    expect(restarts).toEqual([]);
  });
});

describe("what npm start shows of wrangler's output", () => {
  const ESC = "\u001b";
  const session = [
    "[wrangler:warn] Unable to fetch the `Request.cf` object! Falling back to a default placeholder...",
    "Error: getaddrinfo ENOTFOUND workers.cloudflare.com",
    "    at GetAddrInfoReqWrap.onlookupall [as oncomplete] (node:dns:122:26)",
    "    at GetAddrInfoReqWrap.callbackTrampoline (node:internal/async_hooks:130:17)",
    `${ESC}[33m▲ ${ESC}[43;33m[${ESC}[43;30mWARNING${ESC}[43;33m]${ESC}[0m ${ESC}[1mScheduled Workers are not automatically triggered during local development.${ESC}[0m`,
    "  To manually trigger a scheduled event, run:",
    '    curl "http://127.0.0.1:8911/cdn-cgi/local/scheduled"',
    `  For more details, see ${ESC}[4mhttps://developers.cloudflare.com/workers/configuration/cron-triggers/#test-cron-triggers-locally${ESC}[0m`,
    "[wrangler:info] Ready on http://127.0.0.1:8911",
    "[wrangler:info] GET /healthz 200 OK (368ms)",
    "[wrangler:info] PUT /internal/v1/storage/objects/datasets%2Fx%2Fmanifest.json 200 OK (11ms)",
    "[wrangler:warn] The Workers runtime crashed unexpectedly and is being restarted (crash #1). Any additional runtime output above may indicate the cause.",
    "worker log: something the Worker printed",
    "Error: a real error of the Worker",
    "    at handler (worker.js:1:1)",
  ];

  it("leaves out request lines, the offline fetch and its stack, the cron advice and 'Ready on', and keeps the rest", () => {
    const filter = createWranglerLineFilter();
    expect(session.flatMap(filter)).toEqual([
      "[wrangler:warn] The Workers runtime crashed unexpectedly and is being restarted (crash #1). Any additional runtime output above may indicate the cause.",
      "worker log: something the Worker printed",
      "Error: a real error of the Worker",
      "    at handler (worker.js:1:1)",
    ]);
  });

  it("shows everything when asked for, plain, with the right cron advice after the wrong one", () => {
    const shown = session.flatMap(createWranglerLineFilter({ verbose: true }));
    expect(shown).toHaveLength(session.length + 1);
    expect(shown.some((line) => line.includes(ESC))).toBe(false);
    const curl = shown.findIndex((line) => line.includes("/cdn-cgi/local/scheduled"));
    expect(shown[curl + 1]).toBe(SCHEDULED_NOTE);
    expect(SCHEDULED_NOTE).toContain("/cdn-cgi/handler/scheduled");
  });
});

/** Polls `check` until it gives a value. */
async function waitForValue<T>(check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
