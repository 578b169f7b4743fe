/**
 * Serving benchmark: requests/s and p50/p99 latency of the current-snapshot and item routes served
 * by the Worker in workerd, beside a plain Node `http` server returning the same bytes from memory,
 * measured in the same run with wrk.
 *
 * Servers:
 * - `node`: node:http, the bytes held in memory (the ceiling for "serve the last result").
 * - `miniflare`: the bundled Worker (`wrangler deploy --dry-run`) in workerd through Miniflare's own
 *   port (Miniflare's entry worker, then ours), local KV/R2/Cache API on disk. This is the Worker's
 *   own cost, and what the figures compare.
 * - `wrangler-dev`: the same Worker under `wrangler dev`, whose proxy caps local throughput
 *   (skip with --no-wrangler-dev).
 * Both workerd servers read the same persist dir, published the way the compute side publishes
 * (body, shards, manifest last, through the local store), then warmed by a publish notice (KV) and
 * one request (Cache API): the figures are the edge-cache-hit path.
 *
 * Run: `npm exec -- node bench/serve/index.ts [--duration 5] [--connections 32] [--no-wrangler-dev]`.
 * Needs wrk (`apt-get install -y wrk`). Prints figures only; asserts nothing.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { startWranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { openLocalStore } from "../../compute/storage/local.ts";
import { manifestObjectKey } from "../../contract/keys.ts";
import { publishRecords } from "../../test/support/fake-publish.ts";
import { publishLongHistory } from "./history.ts";

const run = promisify(execFile);
const TOKEN = "bench-serve-token-0123456789abcdef0123";

interface Fixture {
  name: string;
  /** Path of the current snapshot and of one item, relative to the server root. */
  currentPath: string;
  itemPath: string;
  version: string;
}

interface Case {
  server: string;
  route: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** Records for a keyed dataset of roughly `targetBytes` of JSON. */
function recordsOfSize(targetBytes: number): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  let bytes = 2;
  for (let i = 0; bytes < targetBytes; i++) {
    const record = { iata: `K${i.toString().padStart(4, "0")}`, name: `Airport number ${i}`, flights: 1000 + i, mean_delay: (i * 37) % 91 / 10, delayed_share: ((i * 13) % 100) / 100 };
    bytes += JSON.stringify(record).length + 1;
    records.push(record);
  }
  return records;
}

/** Publishes one keyed version through the local store, with the shared protocol. */
async function publish(persistTo: string, name: string, records: Record<string, unknown>[]): Promise<Fixture> {
  const store = await openLocalStore({ persistTo, configPath: "wrangler.toml" });
  try {
    const { info } = await publishRecords(store, { dataset: name, records, key: "iata", generatedAt: new Date() });
    const middle = String(records[Math.floor(records.length / 2)]!.iata);
    return { name, currentPath: `/v1/datasets/${name}`, itemPath: `/v1/datasets/${name}/items/${middle}`, version: info.version };
  } finally {
    await store.close();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sends the publish notice and one GET per path, so KV and the Cache API are warm. */
async function warm(base: string, fixtures: Fixture[]): Promise<Map<string, Buffer>> {
  const bytes = new Map<string, Buffer>();
  for (const f of fixtures) {
    const notice = await fetch(`${base}/internal/v1/publish-notice`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ dataset: f.name, version: f.version }),
    });
    if (!notice.ok) throw new Error(`publish notice failed at ${base}: ${notice.status} ${await notice.text()}`);
    for (const p of [f.currentPath, f.itemPath]) {
      const res = await fetch(`${base}${p}`);
      if (!res.ok) throw new Error(`GET ${base}${p}: ${res.status}`);
      bytes.set(p, Buffer.from(await res.arrayBuffer()));
    }
  }
  return bytes;
}

/** Parses wrk's `--latency` report. */
function parseWrk(output: string): { rps: number; p50: number; p99: number; errors: number } {
  const toMs = (value: string, unit: string): number => Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!;
  const percentile = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(output);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { rps, p50: percentile("50"), p99: percentile("99"), errors: non2xx + socketErrors };
}

async function measure(server: string, route: string, url: string, seconds: number, connections: number): Promise<Case> {
  return measureWith(server, route, url, seconds, connections, []);
}

async function measureWith(server: string, route: string, url: string, seconds: number, connections: number, extra: string[]): Promise<Case> {
  const { stdout } = await run("wrk", ["--latency", "-t", "2", "-c", String(connections), "-d", `${seconds}s`, ...extra, url], { maxBuffer: 1 << 20 });
  const r = parseWrk(stdout);
  const result = { server, route, requestsPerSecond: r.rps, p50Ms: r.p50, p99Ms: r.p99, errors: r.errors };
  console.error(`  ${server.padEnd(12)} ${route.padEnd(16)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms${r.errors ? `  errors ${r.errors}` : ""}`);
  return result;
}

/** A plain node:http server answering each path with fixed bytes. */
async function startNodeServer(bytes: Map<string, Buffer>): Promise<{ base: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const body = bytes.get(req.url ?? "");
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": body.byteLength, ETag: '"bench"' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Starts the bundled Worker in workerd through wrangler's own Miniflare (`cacheAPI: false`: every read misses). */
async function startMiniflare(bundleDir: string, persistTo: string, options: { cacheAPI?: boolean } = {}): Promise<{ base: string; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const fromWrangler = createRequire(require.resolve("wrangler/package.json"));
  // Miniflare 5 takes the same v4-style options wrangler builds (resourcePersistencePath is
  // `<persist-to>/v3`, exactly what `wrangler dev --persist-to` and getPlatformProxy use).
  const { Miniflare, convertV4MiniflareOptions } = (await import(fromWrangler.resolve("miniflare"))) as {
    Miniflare: new (options: unknown) => { ready: Promise<URL>; dispose(): Promise<void> };
    convertV4MiniflareOptions(options: unknown): unknown;
  };
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: await freePort(),
      logRequests: false,
      // Module names are paths relative to rootPath; the bundle lives in a temp dir.
      rootPath: bundleDir,
      resourcePersistencePath: path.join(persistTo, "v3"),
      workers: [
        {
          name: "edgesnap",
          modules: true,
          scriptPath: path.join(bundleDir, "index.js"),
          compatibilityDate: "2026-11-01",
          kvNamespaces: { SNAPSHOT_KV: "00000000000000000000000000000000" },
          r2Buckets: { SNAPSHOTS: "edgesnap-snapshots" },
          bindings: { EDGESNAP_TOKEN: TOKEN, CORS_ORIGINS: "*" },
          ...(options.cacheAPI === false ? { cacheAPI: false } : {}),
        },
      ],
    }),
  );
  const url = await mf.ready;
  return { base: url.origin, close: () => mf.dispose() };
}

function table(cases: Case[]): string {
  const lines = ["| server | route | req/s | p50 ms | p99 ms | errors |", "|---|---|---:|---:|---:|---:|"];
  for (const c of cases) lines.push(`| ${c.server} | ${c.route} | ${c.requestsPerSecond.toFixed(0)} | ${c.p50Ms.toFixed(2)} | ${c.p99Ms.toFixed(2)} | ${c.errors} |`);
  return lines.join("\n");
}

function ratios(cases: Case[]): string {
  const lines = ["| route | server | req/s vs node | p50 vs node |", "|---|---|---:|---:|"];
  for (const c of cases) {
    if (c.server === "node") continue;
    const base = cases.find((n) => n.server === "node" && n.route === c.route);
    if (!base) continue;
    lines.push(`| ${c.route} | ${c.server} | ${(c.requestsPerSecond / base.requestsPerSecond).toFixed(3)}x | ${(c.p50Ms / base.p50Ms).toFixed(1)}x |`);
  }
  return lines.join("\n");
}

/**
 * Cache misses against a long history: the same routes (a current page, a current item, the current
 * body revalidated with If-None-Match) of a 200-row dataset and of one that reads as 30M rows with
 * 100 retained versions (./history.ts), through a Worker whose Cache API does nothing, so every
 * request reads the head and finds the version's index. Same bytes answered for both.
 */
async function historyCases(bundleDir: string, persistTo: string, seconds: number, connections: number): Promise<string> {
  const store = await openLocalStore({ persistTo, configPath: "wrangler.toml" });
  let small: Awaited<ReturnType<typeof publishRecords>>;
  let long: Awaited<ReturnType<typeof publishLongHistory>>;
  let headBytes: number;
  try {
    const records = Array.from({ length: 200 }, (_, i) => ({ iata: `S${String(i).padStart(4, "0")}`, name: `Airport number ${i}`, flights: 1000 + i }));
    small = await publishRecords(store, { dataset: "bench-small", records, key: "iata", generatedAt: new Date() });
    long = await publishLongHistory(store, "bench-history", { rows: 30_000_000, pages: 700, versions: 100, page: 350, pageText: small.pages[0]!, keyName: "iata" });
    headBytes = (await store.head(manifestObjectKey("bench-history")))!.size;
  } finally {
    await store.close();
  }
  const mf = await startMiniflare(bundleDir, persistTo, { cacheAPI: false });
  try {
    const routes = (dataset: string, page: number, key: string, hash: string) => [
      { route: "page", path: `/v1/datasets/${dataset}/pages/${page}`, headers: [] as string[] },
      { route: "item", path: `/v1/datasets/${dataset}/items/${key}`, headers: [] as string[] },
      { route: "current body, 304", path: `/v1/datasets/${dataset}`, headers: ["-H", `If-None-Match: "${hash}"`] },
    ];
    const lines = [
      `head object of 30M rows x 100 versions: ${headBytes} bytes (target <= 16 KiB = 16384)`,
      "",
      "| route (cache miss) | 200 rows, 1 version: req/s | 30M rows, 100 versions: req/s | ratio |",
      "|---|---:|---:|---:|",
    ];
    const smallRoutes = routes("bench-small", 1, "S0100", small.info.hash);
    const longRoutes = routes("bench-history", long.page, long.key, long.hash);
    for (const [i, r] of smallRoutes.entries()) {
      for (const probe of [r, longRoutes[i]!]) {
        const res = await fetch(`${mf.base}${probe.path}`, { headers: probe.headers.length ? { "If-None-Match": probe.headers[1]!.slice("If-None-Match: ".length) } : {} });
        if (res.status >= 400) throw new Error(`${probe.path}: ${res.status} ${await res.text()}`);
      }
      const a = await measureWith("miniflare", `${r.route} (small)`, `${mf.base}${r.path}`, seconds, connections, r.headers);
      const b = await measureWith("miniflare", `${r.route} (long)`, `${mf.base}${longRoutes[i]!.path}`, seconds, connections, longRoutes[i]!.headers);
      lines.push(`| ${r.route} | ${a.requestsPerSecond.toFixed(0)} | ${b.requestsPerSecond.toFixed(0)} | ${(b.requestsPerSecond / a.requestsPerSecond).toFixed(2)}x |`);
    }
    return lines.join("\n");
  } finally {
    await mf.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
      "no-wrangler-dev": { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  await run("wrk", ["--version"]).catch((error: { code?: string; stdout?: string }) => {
    // wrk --version exits 1 after printing its version; only a missing binary is fatal.
    if (error.code === "ENOENT") throw new Error("wrk is not installed: apt-get install -y wrk");
  });

  const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bench-serve-"));
  const cleanups: (() => Promise<void>)[] = [() => rm(work, { recursive: true, force: true })];
  try {
    const persistTo = path.join(work, "state");
    const bundleDir = path.join(work, "bundle");
    await mkdir(persistTo, { recursive: true });
    console.error("bundling the Worker (wrangler deploy --dry-run)...");
    const wrangler = path.join(path.dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin", "wrangler.js");
    await run(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", bundleDir], { env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });

    console.error("publishing the 1 KB and 100 KB snapshots...");
    const fixtures = [
      { label: "1KB", fixture: await publish(persistTo, "bench-1kb", recordsOfSize(1024)) },
      { label: "100KB", fixture: await publish(persistTo, "bench-100kb", recordsOfSize(100 * 1024)) },
    ];

    const cases: Case[] = [];
    const mf = await startMiniflare(bundleDir, persistTo);
    cleanups.unshift(mf.close);
    const bytes = await warm(mf.base, fixtures.map((f) => f.fixture));
    const sizes = fixtures.map((f) => `${f.label}: current ${bytes.get(f.fixture.currentPath)!.byteLength} B, item ${bytes.get(f.fixture.itemPath)!.byteLength} B`);
    console.error(`bodies: ${sizes.join("; ")}`);

    const node = await startNodeServer(bytes);
    cleanups.unshift(node.close);
    const servers: { name: string; base: string }[] = [
      { name: "node", base: node.base },
      { name: "miniflare", base: mf.base },
    ];
    if (!values["no-wrangler-dev"]) {
      const dev = await startWranglerDev({ port: await freePort(), persistTo, secrets: { EDGESNAP_TOKEN: TOKEN }, adminToken: TOKEN, onLine: () => {} });
      cleanups.unshift(() => dev.stop());
      await warm(dev.url, fixtures.map((f) => f.fixture));
      servers.push({ name: "wrangler-dev", base: dev.url });
    }

    console.error(`measuring: wrk, ${seconds} s per case, ${connections} connections, 2 threads`);
    // Baseline: a route that touches no storage, to separate the runtime's cost from KV/R2/cache.
    bytes.set("/healthz", Buffer.from('{"ok":true}'));
    for (const server of servers) cases.push(await measure(server.name, "healthz (no I/O)", `${server.base}/healthz`, seconds, connections));
    for (const { label, fixture } of fixtures) {
      for (const [route, p] of [[`current ${label}`, fixture.currentPath], [`item (${label} set)`, fixture.itemPath]] as const) {
        for (const server of servers) cases.push(await measure(server.name, route, `${server.base}${p}`, seconds, connections));
      }
    }

    console.error("measuring cache misses against a long history (30M rows x 100 versions)...");
    const history = await historyCases(bundleDir, persistTo, seconds, connections);
    const report = [
      `# Serving benchmark (${new Date().toISOString()}, ${os.cpus().length} CPUs, wrk ${seconds}s x ${connections} connections)`,
      "",
      table(cases),
      "",
      ratios(cases),
      "",
      history,
    ].join("\n");
    console.log(report);
    const out = path.resolve("bench/out");
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, "serve.json"), JSON.stringify({ at: new Date().toISOString(), seconds, connections, cases }, null, 2));
    await writeFile(path.join(out, "serve.md"), `${report}\n`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup failed: ${String(error)}`));
  }
}

await main();
