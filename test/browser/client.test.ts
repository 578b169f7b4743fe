/**
 * @edgesnap/client in real headless Chromium: a page served from another origin (another port of
 * 127.0.0.1) imports the client as built (plain ESM from client/dist's build) and reads a real
 * `wrangler dev` whose CORS_ORIGINS names that page's origin: catalog, a dataset, an item, every
 * page, a 304 revalidated from its ETag cache, a download's headers, and an error. A page from an
 * origin CORS_ORIGINS does not name is refused by the browser, which the client reports as a
 * network error.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { publishRecords, type FakePublish } from "../support/fake-publish.ts";
import { freePort } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "browser-client-token-8d2f-0123456789abcdef";
const DATASET = "browser-airports";
const RECORDS = Array.from({ length: 40 }, (_, i) => ({ iata: `A${String(i).padStart(3, "0")}`, name: `Airport ${i}`, flights: 1000 + i }));
const CSV = `iata,name,flights\r\n${RECORDS.map((r) => `${r.iata},${r.name},${r.flights}`).join("\r\n")}\r\n`;

/** The page: runs the client against `edge` and leaves what it saw in `window.result`. */
function clientPage(edge: string): string {
  return `<!doctype html>
<html><head><title>edgesnap client</title></head><body>
<script type="module">
import { createClient, EdgesnapError } from "/client/index.js";
const statuses = [];
const recording = async (input, init) => {
  const response = await fetch(input, init);
  statuses.push({ status: response.status, ifNoneMatch: new Headers(init && init.headers).get("If-None-Match") !== null });
  return response;
};
async function run() {
  const client = createClient({ baseUrl: ${JSON.stringify(edge)}, fetch: recording });
  const catalog = await client.catalog();
  const rows = await client.get(${JSON.stringify(DATASET)});
  const again = await client.get(${JSON.stringify(DATASET)});
  const item = await client.item(${JSON.stringify(DATASET)}, "A007");
  const pages = [];
  for await (const page of client.pages(${JSON.stringify(DATASET)})) pages.push(page);
  const download = await fetch(client.url(${JSON.stringify(DATASET)}, "csv"));
  let error = null;
  try { await client.item(${JSON.stringify(DATASET)}, "ZZZ"); } catch (e) {
    error = { isClientError: e instanceof EdgesnapError, status: e.status, code: e.code, message: e.message };
  }
  return {
    catalog: catalog.datasets.map((d) => d.name), rows, sameObject: again === rows, item, pages, statuses,
    download: { status: download.status, disposition: download.headers.get("Content-Disposition"), etag: download.headers.get("ETag"), version: download.headers.get("X-Edgesnap-Version"), text: await download.text() },
    error,
  };
}
window.result = run().catch((e) => ({ failed: e.name + ": " + e.message, code: e.code, status: e.status }));
</script></body></html>`;
}

/** A page that follows the dataset: `window.syncOnce()` syncs and reports what it did and the body's sha256. */
function followPage(edge: string): string {
  return `<!doctype html>
<html><head><title>edgesnap follow</title></head><body>
<script type="module">
import { createClient } from "/client/index.js";
const held = createClient({ baseUrl: ${JSON.stringify(edge)} }).follow(${JSON.stringify(DATASET)});
window.syncOnce = async () => {
  const result = await held.sync();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", held.body()));
  return { ...result, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""), rows: held.rows().length };
};
window.ready = true;
</script></body></html>`;
}

/** Serves the page at / and the built client under /client/, on `port` of 127.0.0.1. */
async function servePage(port: number, html: string, clientDir: string): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === "/") return res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(html);
      if (req.url === "/follow") return res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(followPage(html.match(/baseUrl: "([^"]+)"/)![1]!));
      const name = /^\/client\/([\w.-]+\.js)$/.exec(req.url ?? "")?.[1];
      if (!name) return res.writeHead(404).end();
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(await readFile(path.join(clientDir, name)));
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

describe("the client in Chromium, on a page from another origin", () => {
  let work: string;
  let edge: WranglerDev;
  let store: ObjectStore;
  let browser: Browser;
  let published: FakePublish;
  const servers: Server[] = [];
  let allowedPage: string;
  let otherPage: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-browser-client-"));
    const clientDir = path.join(work, "client");
    const tsc = path.join(REPO_ROOT, "node_modules/typescript/bin/tsc");
    const built = spawnSync(process.execPath, [tsc, "-p", path.join(REPO_ROOT, "client"), "--outDir", clientDir, "--tsBuildInfoFile", path.join(work, "client.tsbuildinfo")], { encoding: "utf8" });
    expect(built.status, built.stdout).toBe(0);

    const [allowedPort, otherPort] = [await freePort(), await freePort()];
    allowedPage = `http://127.0.0.1:${allowedPort}`;
    otherPage = `http://127.0.0.1:${otherPort}`;
    edge = await startWranglerDev({
      port: await freePort(),
      persistTo: path.join(work, "state"),
      configPath: path.join(REPO_ROOT, "wrangler.toml"),
      secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on", CORS_ORIGINS: allowedPage },
      onLine: () => {},
    });
    store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
    // Small pages, so the page walk follows several Link headers.
    published = await publishRecords(store, { dataset: DATASET, records: RECORDS, key: "iata", pageBytes: 512, formats: { csv: CSV } });
    servers.push(await servePage(allowedPort, clientPage(edge.url), clientDir), await servePage(otherPort, clientPage(edge.url), clientDir));
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await store?.close();
    await edge?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function resultOf(pageUrl: string): Promise<Record<string, unknown>> {
    const page = await browser.newPage();
    try {
      await page.goto(`${pageUrl}/`);
      return (await page.evaluate("window.result")) as Record<string, unknown>;
    } finally {
      await page.close();
    }
  }

  it("reads the catalog, the rows, an item and every page, revalidates with a 304 from its cache, and reads download headers", async () => {
    const result = await resultOf(allowedPage);
    expect(result.failed).toBeUndefined();
    expect(result.catalog).toEqual([DATASET]);
    expect(result.rows).toEqual(RECORDS);
    expect(result.sameObject).toBe(true);
    expect(result.item).toEqual(RECORDS[7]);
    const pages = result.pages as unknown[][];
    expect(pages.length).toBe(published.pages.length);
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.flat()).toEqual(RECORDS);
    expect((result.statuses as { status: number; ifNoneMatch: boolean }[]).slice(0, 3)).toEqual([
      { status: 200, ifNoneMatch: false },
      { status: 200, ifNoneMatch: false },
      { status: 304, ifNoneMatch: true },
    ]);
    expect(result.download).toEqual({
      status: 200,
      disposition: `attachment; filename="${DATASET}-${published.info.version}.csv"`,
      etag: `"${published.info.formats.csv!.sha256}"`,
      version: published.info.version,
      text: CSV,
    });
    expect(result.error).toEqual({ isClientError: true, status: 404, code: "not_found", message: expect.stringContaining('no item with key "ZZZ"') });
  });

  it("follows the dataset: after an append, a sync fetches only the new pages and holds exactly the new body", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${allowedPage}/follow`);
      await page.waitForFunction("window.ready === true");
      const first = (await page.evaluate("window.syncOnce()")) as { version: string; sha256: string; fetchedPages: number; rows: number };
      expect(first).toMatchObject({ version: published.info.version, sha256: published.info.hash, fetchedPages: published.pages.length, rows: RECORDS.length });
      const more = [...RECORDS, ...Array.from({ length: 3 }, (_, i) => ({ iata: `B${i}`, name: `New ${i}`, flights: i }))];
      const next = await publishRecords(store, { dataset: DATASET, records: more, key: "iata", pageBytes: 512, formats: { csv: CSV } });
      const second = (await page.evaluate("window.syncOnce()")) as { version: string; sha256: string; fetchedPages: number; keptPages: number; rows: number; keys: { added: string[] } };
      expect(second).toMatchObject({ version: next.info.version, sha256: next.info.hash, rows: more.length, keys: { added: ["B0", "B1", "B2"] } });
      expect(second.fetchedPages).toBeLessThan(next.pages.length);
      expect(second.keptPages).toBeGreaterThan(0);
    } finally {
      await page.close();
    }
  });

  it("is refused by the browser on an origin CORS_ORIGINS does not name, and says so as a network error", async () => {
    const result = await resultOf(otherPage);
    expect(result).toMatchObject({ failed: expect.stringMatching(/^EdgesnapError: cannot reach /), code: "network", status: 0 });
  });
});
