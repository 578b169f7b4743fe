/**
 * Freshness benchmark: two figures the README's "Freshness" section quotes.
 *
 * 1. What the R2 manifest read adds to a cache miss. Every miss of a current URL reads the
 *    dataset's manifest from R2 (KV could serve it stale). A small Worker, bundled from the
 *    project's own `readManifest` (R2 get, text, zod parse) and run in workerd through Miniflare
 *    with local R2 and KV on disk, does the read N times in one request; the wall time of that
 *    request minus an empty loop of the same N, divided by N, is the read's cost. A KV read of a
 *    page (the hot copy a miss reads next) is measured the same way for scale.
 * 2. Publish to served, locally: `wrangler dev` with the storage API on, a version published
 *    through it exactly as a run does (pages, then the manifest by compare-and-swap), then polling
 *    the current URL every 10 ms until it serves the new version. With the publish notice (which
 *    purges this location's Cache API), and without it (a lost notice or a failed purge: the
 *    FRESHNESS_SECONDS bound, 10 s by default, is what remains).
 *
 * Run: `npm exec -- node bench/freshness/index.ts [--reads 500] [--publishes 10] [--lost 3]`.
 * Prints figures only; asserts nothing.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startWranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { openLocalStore } from "../../compute/storage/local.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import { pageObjectKey } from "../../contract/keys.ts";
import { freePort } from "../../test/support/processes.ts";
import { publishRecords } from "../../test/support/fake-publish.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "bench-freshness-token-0123456789abcdef";

/** The bench Worker: N sequential operations of one kind per request. */
const BENCH_WORKER = `
import { readManifest } from "./contract/protocol/manifests.ts";
import { createR2Store } from "./contract/r2-store.ts";
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") ?? "1");
    const store = createR2Store(env.SNAPSHOTS, { sha256: () => { throw new Error("unused"); } });
    for (let i = 0; i < n; i++) {
      if (url.pathname === "/manifest") await readManifest(store, url.searchParams.get("dataset"));
      else if (url.pathname === "/kv") await env.SNAPSHOT_KV.get(url.searchParams.get("key"), "text");
      else await Promise.resolve();
    }
    return new Response("done");
  },
};`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function bundleBenchWorker(): Promise<string> {
  const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
  const esbuild = (await import(fromWrangler.resolve("esbuild"))) as typeof import("esbuild");
  const built = await esbuild.build({
    stdin: { contents: BENCH_WORKER, resolveDir: ROOT, loader: "ts", sourcefile: "bench-worker.ts" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    write: false,
  });
  return built.outputFiles[0]!.text;
}

/** Per-operation cost inside workerd: (wall time of N operations − N empty iterations) / N. */
async function measureReads(reads: number): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bench-reads-"));
  try {
    const store = await openLocalStore({ persistTo: work, configPath: path.join(ROOT, "wrangler.toml") });
    let pageKey: string;
    try {
      // A manifest with a full history (20 versions), as a dataset has after a while.
      let published;
      for (let v = 0; v < 20; v++) published = await publishRecords(store, { dataset: "bench", records: [{ v }, { v: v + 1 }] });
      pageKey = pageObjectKey("bench", published!.info.pages[0]!.sha256);
    } finally {
      await store.close();
    }
    const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
    const { Miniflare, convertV4MiniflareOptions } = (await import(fromWrangler.resolve("miniflare"))) as {
      Miniflare: new (options: unknown) => { ready: Promise<URL>; dispose(): Promise<void>; getKVNamespace(name: string): Promise<{ put(k: string, v: string): Promise<void> }> };
      convertV4MiniflareOptions(options: unknown): unknown;
    };
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        host: "127.0.0.1",
        port: await freePort(),
        resourcePersistencePath: path.join(work, "v3"),
        workers: [
          {
            name: "bench",
            modules: true,
            script: await bundleBenchWorker(),
            compatibilityDate: "2026-11-01",
            kvNamespaces: { SNAPSHOT_KV: "00000000000000000000000000000000" },
            r2Buckets: { SNAPSHOTS: "edgesnap-snapshots" },
          },
        ],
      }),
    );
    try {
      const base = (await mf.ready).origin;
      await (await mf.getKVNamespace("SNAPSHOT_KV")).put(pageKey, '[{"v":19},{"v":20}]');
      const timed = async (route: string): Promise<number> => {
        const started = performance.now();
        const res = await fetch(`${base}${route}`);
        await res.text();
        return performance.now() - started;
      };
      const rounds = 7;
      const perOp: Record<string, number[]> = { manifest: [], kv: [] };
      await timed(`/manifest?n=20&dataset=bench`);
      for (let round = 0; round < rounds; round++) {
        const empty = await timed(`/noop?n=${reads}`);
        perOp.manifest!.push((((await timed(`/manifest?n=${reads}&dataset=bench`)) - empty) / reads));
        perOp.kv!.push((((await timed(`/kv?n=${reads}&key=${encodeURIComponent(pageKey)}`)) - empty) / reads));
      }
      console.log(`\nInside workerd (Miniflare, local R2/KV on disk), ${reads} sequential reads per request, median of ${rounds} rounds:`);
      console.log(`| operation | ms per read, median (min-max) |`);
      console.log(`|---|---:|`);
      for (const [name, values] of Object.entries(perOp)) {
        const label = name === "manifest" ? "R2 manifest read (get + parse, 20 versions)" : "KV page read (hot copy)";
        console.log(`| ${label} | ${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}) |`);
      }
    } finally {
      await mf.dispose();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Milliseconds from the manifest write returning to the current URL serving the new version. */
async function measurePublishToServed(publishes: number, lost: number): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bench-served-"));
  const edge = await startWranglerDev({
    port: await freePort(),
    persistTo: path.join(work, "state"),
    configPath: path.join(ROOT, "wrangler.toml"),
    secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on" },
    onLine: () => {},
  });
  try {
    const store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
    const notice = (version: string) =>
      fetch(`${edge.url}/internal/v1/publish-notice`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ dataset: "served", version }),
      }).then((res) => res.text());
    const servedVersion = async () => {
      const res = await fetch(`${edge.url}/v1/datasets/served`);
      await res.arrayBuffer();
      return res.headers.get("x-edgesnap-version");
    };
    const untilServed = async (version: string, started: number): Promise<number> => {
      while ((await servedVersion()) !== version) await new Promise((resolve) => setTimeout(resolve, 10));
      return performance.now() - started;
    };
    let n = 0;
    const publish = async () => (await publishRecords(store, { dataset: "served", records: [{ n: n++ }], generatedAt: new Date() })).info.version;
    await notice(await publish());
    const withNotice: number[] = [];
    for (let i = 0; i < publishes; i++) {
      await servedVersion(); // the current version is in this location's Cache API
      const version = await publish();
      const started = performance.now();
      await notice(version);
      withNotice.push(await untilServed(version, started));
    }
    const withoutNotice: number[] = [];
    for (let i = 0; i < lost; i++) {
      await notice(await publish());
      await servedVersion();
      const version = await publish();
      withoutNotice.push(await untilServed(version, performance.now()));
    }
    console.log(`\nPublish to served through wrangler dev (poll every 10 ms):`);
    console.log(`| path | median | p90 | max | runs |`);
    console.log(`|---|---:|---:|---:|---:|`);
    const row = (label: string, values: number[]) =>
      console.log(`| ${label} | ${median(values).toFixed(0)} ms | ${percentile(values, 90).toFixed(0)} ms | ${Math.max(...values).toFixed(0)} ms | ${values.length} |`);
    row("manifest written, then the publish notice (purge)", withNotice);
    row("manifest written, no notice (lost notice or failed purge)", withoutNotice);
    await store.close();
  } finally {
    await edge.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { reads: { type: "string", default: "500" }, publishes: { type: "string", default: "10" }, lost: { type: "string", default: "3" } },
  });
  await measureReads(Number(values.reads));
  await measurePublishToServed(Number(values.publishes), Number(values.lost));
}

await main();
