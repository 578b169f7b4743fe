/**
 * Compressed CSV and NDJSON, end to end: a real run (real polars) publishes a table of several pages
 * through a real `wrangler dev`, and clients that send `Accept-Encoding: gzip` get the gzip copy
 * (CSV's one object, NDJSON's per-page pieces stitched into one gzip stream), which decompresses
 * to exactly the identity bytes with Node's zlib and with curl; other clients, and ranged
 * requests, get the identity. A next version that appends rows compresses only its changed pages.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineDataset } from "../../compute/dataset/define.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { runDataset } from "../../compute/run/run.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import { listKeys, type ObjectStore } from "../../contract/storage.ts";
import { memoryLogger, runConfig } from "../compute/helpers.ts";
import { freePort } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "compression-test-token-0123456789abcdef";
let rows = 300_000;
const TABLE = defineDataset({
  name: "front-compressed",
  schedule: "0 0 1 1 *",
  formats: ["csv", "ndjson"],
  build: ({ pl }) =>
    pl.DataFrame({
      id: Array.from({ length: rows }, (_, i) => i),
      city: Array.from({ length: rows }, (_, i) => ["Amsterdam", "Berlin", "Lisbon", "São Paulo, \"SP\""][i % 4]!),
      label: Array.from({ length: rows }, (_, i) => `row ${i} of a table long enough for several pages`),
    }),
});

let work: string;
let edge: WranglerDev;
let store: ObjectStore;

/** A GET whose body is read as sent (node:http does not decode Content-Encoding, fetch would). */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

async function publish(): Promise<string> {
  const result = await runDataset(TABLE, { config: runConfig(path.join(work, "unused"), path.join(work, "runs"), { edgeUrl: edge.url, token: TOKEN }), store, log: memoryLogger().log });
  expect(result, result.reason ?? "").toMatchObject({ outcome: "ok" });
  return result.version!;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-compression-"));
  edge = await startWranglerDev({
    port: await freePort(),
    persistTo: path.join(work, "state"),
    configPath: path.join(REPO_ROOT, "wrangler.toml"),
    secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on" },
    onLine: () => {},
  });
  store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
  await publish();
}, 240_000);
afterAll(async () => {
  await store?.close();
  await edge?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("CSV and NDJSON for clients that accept gzip", () => {
  for (const format of ["csv", "ndjson"] as const) {
    it(`${format}: gzip when asked, identity otherwise, the same bytes once decompressed`, async () => {
      const url = `${edge.url}/v1/datasets/${TABLE.name}.${format}`;
      const identity = await rawGet(url);
      expect(identity.status).toBe(200);
      expect(identity.headers["content-encoding"]).toBeUndefined();
      expect(identity.headers.vary).toMatch(/Accept-Encoding/i);
      expect(Number(identity.headers["content-length"])).toBe(identity.body.length);

      const gzip = await rawGet(url, { "Accept-Encoding": "gzip, deflate, br" });
      expect(gzip.status).toBe(200);
      expect(gzip.headers["content-encoding"]).toBe("gzip");
      expect(gzip.headers.vary).toMatch(/Accept-Encoding/i);
      expect(Number(gzip.headers["content-length"])).toBe(gzip.body.length);
      expect(gzip.body.length).toBeLessThan(identity.body.length / 3);
      expect(gunzipSync(gzip.body).equals(identity.body)).toBe(true);
      // Each encoding has its own entity tag, and revalidates with it.
      expect(gzip.headers.etag).not.toBe(identity.headers.etag);
      expect((await rawGet(url, { "Accept-Encoding": "gzip", "If-None-Match": gzip.headers.etag! })).status).toBe(304);
      expect((await rawGet(url, { "If-None-Match": identity.headers.etag! })).status).toBe(304);
      // Another client decodes it the same: curl with its own zlib.
      const curled = execFileSync("curl", ["-s", "--compressed", url], { maxBuffer: 64 * 1024 * 1024 });
      expect(Buffer.from(curled).equals(identity.body)).toBe(true);
      // A client that refuses gzip, and a ranged request, get the identity bytes.
      expect((await rawGet(url, { "Accept-Encoding": "gzip;q=0, identity" })).headers["content-encoding"]).toBeUndefined();
      const ranged = await rawGet(url, { "Accept-Encoding": "gzip", Range: "bytes=10-99" });
      expect(ranged.status).toBe(206);
      expect(ranged.headers["content-encoding"]).toBeUndefined();
      expect(ranged.body.equals(identity.body.subarray(10, 100))).toBe(true);
    });
  }

  it("stitches NDJSON from one piece per page, and a version that appends rows compresses only its new pages", async () => {
    const pieces = async () => (await listKeys(store, `datasets/${TABLE.name}/pages/`)).filter((key) => key.endsWith(".deflate"));
    const before = await pieces();
    expect(before.length).toBeGreaterThan(1);
    rows += 500;
    await publish();
    const added = (await pieces()).filter((key) => !before.includes(key));
    // The last page grew; every other page's piece is the one already stored.
    expect(added.length).toBeGreaterThan(0);
    expect(added.length).toBeLessThanOrEqual(2);
    const gzip = await rawGet(`${edge.url}/v1/datasets/${TABLE.name}.ndjson`, { "Accept-Encoding": "gzip" });
    const identity = await rawGet(`${edge.url}/v1/datasets/${TABLE.name}.ndjson`);
    expect(gunzipSync(gzip.body).equals(identity.body)).toBe(true);
    expect(identity.body.toString().split("\n")).toHaveLength(rows + 1);
  });
});
