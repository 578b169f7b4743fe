/**
 * Bytes on the wire per format, with and without compression, for the 3M-row flights table served
 * by a real `wrangler dev`: the JSON body, CSV and NDJSON (identity, and their gzip copies), and
 * Parquet; what the gzip copies cost at publish (time and storage, a run with `compress: false`
 * beside one with it); and the bytes a one-column Parquet read fetches by range (hyparquet) against
 * the file's size. JSON is not compressed by the Worker (Cloudflare does it on its own); its gzip
 * figure is zlib at level 6 of the same bytes, what such a compression sends.
 *
 *   node bench/formats/wire.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { asyncBufferFromUrl, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { defineDataset } from "../../compute/dataset/define.ts";
import { FLIGHTS_PARQUET, vegaDataPath } from "../../compute/examples/vega.ts";
import { startWranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { createLogger } from "../../compute/run/logger.ts";
import { runDataset } from "../../compute/run/run.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import { listAll } from "../../contract/storage.ts";
import { freePort } from "../../test/support/processes.ts";

const TOKEN = "bench-formats-wire-token-0123456789abcd";
const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const limits = { timeoutMs: 15 * 60_000, memoryBytes: 3 * 1024 ** 3 };
const flights = (name: string, compress: boolean) =>
  defineDataset({ name, schedule: "0 0 1 1 *", limits, compress, build: ({ sources }) => sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET)) });

/** The bytes of a GET as sent (node:http does not decode). */
function wireBytes(url: string, headers: Record<string, string> = {}): Promise<{ bytes: number; encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({ bytes: body.length, encoding: res.headers["content-encoding"], body });
        });
      })
      .on("error", reject);
  });
}

const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bench-wire-"));
const edge = await startWranglerDev({ port: await freePort(), persistTo: path.join(work, "state"), secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on" }, onLine: () => {} });
const store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
try {
  const quiet = createLogger({ write: () => {} });
  const config = { store: { kind: "local" as const, persistTo: path.join(work, "state"), wranglerConfig: "wrangler.toml" }, edgeUrl: edge.url, token: TOKEN, tempRoot: path.join(work, "runs") };
  const runs: Record<string, { ms: number; stored: Record<string, number> }> = {};
  for (const [name, compress] of [["flights-plain", false], ["flights-gzip", true]] as const) {
    const result = await runDataset(flights(name, compress), { config, store, log: quiet, notify: false });
    if (result.outcome !== "ok") throw new Error(`${name}: ${result.reason}`);
    const stored: Record<string, number> = { json: 0, ndjson: 0, "ndjson gzip": 0, csv: 0, "csv gzip": 0, parquet: 0, other: 0 };
    for await (const page of listAll(store, `datasets/${name}/`)) {
      for (const object of page.objects) {
        const kind = object.key.endsWith(".deflate") ? "ndjson gzip" : object.key.endsWith(".ndjson") ? "ndjson" : object.key.endsWith("data.csv.gz") ? "csv gzip" : object.key.endsWith("data.csv") ? "csv" : object.key.endsWith(".parquet") ? "parquet" : object.key.includes("/pages/") ? "json" : "other";
        stored[kind]! += object.size;
      }
    }
    runs[name] = { ms: result.durationMs, stored };
  }
  const base = `${edge.url}/v1/datasets/flights-gzip`;
  const json = await wireBytes(base);
  console.log("| format | identity on the wire | gzip on the wire | ratio |");
  console.log("|---|---:|---:|---:|");
  console.log(`| JSON (gzip by Cloudflare; zlib level 6 here) | ${mib(json.bytes)} | ${mib(gzipSync(json.body, { level: 6 }).length)} | ${(gzipSync(json.body, { level: 6 }).length / json.bytes).toFixed(3)} |`);
  for (const format of ["csv", "ndjson"]) {
    const identity = await wireBytes(`${base}.${format}`);
    const gzip = await wireBytes(`${base}.${format}`, { "Accept-Encoding": "gzip" });
    if (gzip.encoding !== "gzip") throw new Error(`${format}: no gzip copy served`);
    console.log(`| ${format.toUpperCase()} | ${mib(identity.bytes)} | ${mib(gzip.bytes)} | ${(gzip.bytes / identity.bytes).toFixed(3)} |`);
  }
  const parquet = await wireBytes(`${base}.parquet`);
  console.log(`| Parquet (zstd inside) | ${mib(parquet.bytes)} | - | - |`);

  console.log("");
  console.log("| publish of the 3M-row table, all formats | wall | stored: JSON pages | NDJSON | its gzip pieces | CSV | its gzip | Parquet |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const [name, label] of [["flights-plain", "compress: false"], ["flights-gzip", "compress: true (default)"]] as const) {
    const { ms, stored } = runs[name]!;
    console.log(`| ${label} | ${(ms / 1000).toFixed(2)} s | ${mib(stored.json!)} | ${mib(stored.ndjson!)} | ${mib(stored["ndjson gzip"]!)} | ${mib(stored.csv!)} | ${mib(stored["csv gzip"]!)} | ${mib(stored.parquet!)} |`);
  }

  let fetched = 0;
  const counting: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? "GET") === "GET") fetched += Number(res.headers.get("Content-Length") ?? 0);
    return res;
  };
  const file = await asyncBufferFromUrl({ url: `${base}.parquet`, fetch: counting });
  const rows = await parquetReadObjects({ file, columns: ["delay"], compressors });
  console.log("");
  console.log(`one-column Parquet read (delay, hyparquet by range): ${rows.length} rows, fetched ${mib(fetched)} of a ${mib(file.byteLength)} file (${((100 * fetched) / file.byteLength).toFixed(1)}%)`);
} finally {
  await store.close();
  await edge.stop();
  await rm(work, { recursive: true, force: true });
}
