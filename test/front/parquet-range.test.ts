/**
 * Parquet for frontends and notebooks: a real range-reading Parquet client (hyparquet, with the
 * zstd decoder of hyparquet-compressors) reads one column of a 1M-row table's `.parquet` through a
 * real `wrangler dev`, in Node and in headless Chromium, fetching a small share of the file by HTTP
 * range; the values equal polars' own read of the same rows.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { asyncBufferFromUrl, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import pl from "nodejs-polars";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineDataset } from "../../compute/dataset/define.ts";
import { FLIGHTS_PARQUET, vegaDataPath } from "../../compute/examples/vega.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { runDataset } from "../../compute/run/run.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { memoryLogger, runConfig } from "../compute/helpers.ts";
import { freePort } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "parquet-range-token-0123456789abcdef0123";
const ROWS = 1_000_000;
const TABLE = defineDataset({
  name: "front-parquet",
  schedule: "0 0 1 1 *",
  formats: ["parquet"],
  build: async ({ sources }) => (await sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET))).head(ROWS),
});

let work: string;
let edge: WranglerDev;
let store: ObjectStore;
let pageServer: Server;
let pageOrigin: string;
let expected: number[];

/** Serves the page and the client modules it imports (hyparquet and its decoders, from node_modules). */
async function servePage(port: number, edgeUrl: string): Promise<Server> {
  const modules: Record<string, string> = {
    hyparquet: "/m/hyparquet/src/index.js",
    "hyparquet-compressors": "/m/hyparquet-compressors/src/index.js",
    fzstd: "/m/fzstd/esm/index.mjs",
    hysnappy: "/m/hysnappy/js/index.js",
  };
  const html = `<!doctype html><html><head>
<script type="importmap">${JSON.stringify({ imports: modules })}</script></head><body>
<script type="module">
import { asyncBufferFromUrl, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
let fetched = 0;
const counting = async (input, init) => { const res = await fetch(input, init); if ((init?.method ?? "GET") === "GET") fetched += Number(res.headers.get("Content-Length") ?? 0); return res; };
window.result = (async () => {
  const file = await asyncBufferFromUrl({ url: ${JSON.stringify(`${edgeUrl}/v1/datasets/${TABLE.name}.parquet`)}, fetch: counting });
  const rows = await parquetReadObjects({ file, columns: ["delay"], compressors });
  return { size: file.byteLength, fetched, count: rows.length, delays: rows.map((r) => Number(r.delay)) };
})().catch((e) => ({ failed: String(e) }));
</script></body></html>`;
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === "/") return res.writeHead(200, { "Content-Type": "text/html" }).end(html);
      const file = req.url?.startsWith("/m/") ? path.join(REPO_ROOT, "node_modules", req.url.slice(3)) : null;
      if (file === null || file.includes("..")) return res.writeHead(404).end();
      res.writeHead(200, { "Content-Type": "text/javascript" }).end(await readFile(file));
    })().catch(() => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-parquet-range-"));
  const pagePort = await freePort();
  pageOrigin = `http://127.0.0.1:${pagePort}`;
  edge = await startWranglerDev({
    port: await freePort(),
    persistTo: path.join(work, "state"),
    configPath: path.join(REPO_ROOT, "wrangler.toml"),
    secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on", CORS_ORIGINS: pageOrigin },
    onLine: () => {},
  });
  store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
  const result = await runDataset(TABLE, { config: runConfig(path.join(work, "unused"), path.join(work, "runs"), { edgeUrl: edge.url, token: TOKEN }), store, log: memoryLogger().log });
  expect(result, result.reason ?? "").toMatchObject({ outcome: "ok" });
  const source = pl.readParquet(vegaDataPath(FLIGHTS_PARQUET)).head(ROWS);
  expected = source.getColumn("delay").toArray().map(Number);
  pageServer = await servePage(pagePort, edge.url);
}, 240_000);
afterAll(async () => {
  await new Promise((resolve) => pageServer?.close(resolve));
  await store?.close();
  await edge?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a range-reading Parquet client reads one column through the Worker", () => {
  it("in Node: the column's values as polars reads them, fetching a small share of the file", async () => {
    let fetched = 0;
    const ranges: string[] = [];
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const range = new Headers(init?.headers).get("Range");
      if (range !== null) {
        expect(res.status).toBe(206);
        ranges.push(range);
      }
      // A HEAD (for the file's length) carries the whole length but no body.
      if ((init?.method ?? "GET") === "GET") fetched += Number(res.headers.get("Content-Length") ?? 0);
      return res;
    };
    const file = await asyncBufferFromUrl({ url: `${edge.url}/v1/datasets/${TABLE.name}.parquet`, fetch: counting });
    const rows = await parquetReadObjects({ file, columns: ["delay"], compressors });
    expect(rows).toHaveLength(ROWS);
    expect(rows.map((row) => Number(row.delay))).toEqual(expected);
    expect(ranges.length).toBeGreaterThan(2);
    // One of five columns (delay, the largest once compressed), read by range: the footer and its chunks.
    expect(fetched).toBeLessThan(file.byteLength * 0.5);
  });

  it("in Chromium, from a page on another origin: the same values, fetching a small share of the file", async () => {
    const browser: Browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
    try {
      const page = await browser.newPage();
      await page.goto(`${pageOrigin}/`);
      const result = (await page.evaluate("window.result")) as { failed?: string; size: number; fetched: number; count: number; delays: number[] };
      expect(result.failed).toBeUndefined();
      expect(result.count).toBe(ROWS);
      expect(result.delays).toEqual(expected);
      expect(result.fetched).toBeLessThan(result.size * 0.5);
    } finally {
      await browser.close();
    }
  });
});
