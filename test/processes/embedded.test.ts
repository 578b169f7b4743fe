/**
 * The pieces of the embedded default that keep two starts apart: the state-dir lock (refused while
 * its holder lives, taken over once it is gone, even when its pid has been reused or the file is
 * garbage), the readiness check that tells our Worker from another one on the port, and the one
 * rule every command uses to find the edge and its token.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveEdgeUrl, resolveToken } from "../../compute/edge-client/connect.ts";
import { writeLocalToken } from "../../compute/embedded/local-token.ts";
import { acquireStateLock, STATE_LOCK_FILE } from "../../compute/embedded/state-lock.ts";
import { waitForWorker } from "../../compute/embedded/wrangler-dev.ts";
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
