/**
 * The publish benchmark: how long and how much memory a run takes to publish a large snapshot,
 * beside DuckDB writing the same rows to one JSON file, measured in the same run.
 *
 * Cases (each a fresh process, as the scheduler runs them; memory is the peak summed RSS of the
 * process's whole tree, sampled every 100 ms):
 * - the 3M-row flights table, all columns, and the same keyed by a row index, through the local
 *   store (a real `wrangler dev`, written through its storage API as under `npm start`) and through
 *   the S3 driver (against the S3 test server the tests use: s3rver behind the conditional-write
 *   proxy);
 * - DuckDB's COPY of the same rows (and the same keyed) to a JSON file;
 * - the table repeated 10x (30M rows, ~3 GB of JSON) under a 3 GiB memory ceiling;
 * - a small example dataset as a one-shot `edgesnap run`, with a private local runtime (what every
 *   run did before) and through the running local Worker (what runs do now).
 *
 *   node bench/publish/index.ts [--cases unkeyed,keyed,x10,small] [--stores local,s3] [--out bench/out]
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { FLIGHTS_PARQUET, vegaDataPath } from "../../compute/examples/vega.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { S3_TEST_BUCKET, S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from "../../test/storage/s3-server.ts";
import { freePort } from "../../test/support/processes.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import { measure, type Measured } from "./measure.ts";
import { versionCases } from "./versions.ts";

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "unkeyed,keyed,versions,x10,small" },
    stores: { type: "string", default: "local,s3" },
    out: { type: "string", default: "bench/out" },
  },
});
const cases = new Set(values.cases.split(","));
const stores = values.stores.split(",");
const REPO = path.resolve(import.meta.dirname, "../..");
const NODE = process.execPath;
const TOKEN = "bench-publish-token-0123456789abcdef0123";
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The ceiling the 30M-row case must stay under. */
const X10_CEILING = 3 * GiB;

const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtMiB = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bench-publish-"));
const rows: string[] = [];
/** The version-cost targets (./versions.ts). */
const targets: string[] = [];
let keyedLocal: { dataset: string; wallMs: number; duckdbMs: number } | null = null;
const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

let edge: WranglerDev | undefined;
let s3: S3TestServer | undefined;
try {
  const parquet = vegaDataPath(FLIGHTS_PARQUET);
  const baselines = new Map<string, Measured>();
  for (const variant of ["unkeyed", "keyed"].filter((name) => cases.has(name))) {
    const out = path.join(work, `duckdb-${variant}.json`);
    const measured = await measure([NODE, "bench/publish/duckdb-copy.ts", parquet, out, variant], {});
    if (measured.code !== 0) throw new Error(`DuckDB failed: ${measured.output}`);
    baselines.set(variant, measured);
    say(`duckdb ${variant}: ${fmtS(measured.wallMs)}, ${fmtMiB(measured.peakRss)}, ${fmtMiB((await stat(out)).size)} of JSON`);
    await rm(out, { force: true });
  }

  const persistTo = path.join(work, "state");
  edge = await startWranglerDev({ port: await freePort(), persistTo, secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on" }, onLine: () => {} });
  s3 = await startS3TestServer();
  const storeEnv: Record<string, NodeJS.ProcessEnv> = {
    local: { EDGESNAP_STORE: "local", EDGESNAP_PERSIST_TO: persistTo, EDGESNAP_EDGE_URL: edge.url, EDGESNAP_TOKEN: TOKEN },
    s3: {
      EDGESNAP_STORE: "s3",
      EDGESNAP_S3_ENDPOINT: s3.endpoint,
      EDGESNAP_S3_BUCKET: S3_TEST_BUCKET,
      EDGESNAP_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      EDGESNAP_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
      // Notices go nowhere: the S3 case measures the publish, not a Worker.
      EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
      EDGESNAP_TOKEN: TOKEN,
    },
  };
  const runEnv = (store: string): NodeJS.ProcessEnv => ({
    ...storeEnv[store],
    EDGESNAP_DATASETS: "bench/publish/datasets.ts",
    EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
  });

  rows.push("| case | store | wall | peak RSS (run tree) | wall vs DuckDB | memory vs DuckDB | local Worker's RSS growth |", "|---|---|---:|---:|---:|---:|---:|");
  for (const [variant, dataset] of [["unkeyed", "flights"], ["keyed", "flights-keyed"]] as const) {
    if (!cases.has(variant)) continue;
    const base = baselines.get(variant)!;
    rows.push(`| ${variant}: DuckDB COPY to one JSON file | - | ${fmtS(base.wallMs)} | ${fmtMiB(base.peakRss)} | 1.00x | 1.00x | - |`);
    for (const store of stores) {
      const measured = await measure([NODE, "compute/run/child.ts", dataset], runEnv(store), { beside: store === "local" ? edge.pid : undefined });
      if (measured.code !== 0) throw new Error(`${dataset} on ${store} failed (${measured.code}): ${measured.output.slice(-2000)}`);
      say(`${dataset} ${store}: ${measured.output.split("\n").find((line) => line.startsWith(dataset)) ?? ""}`);
      const growth = measured.besidePeakGrowth === undefined ? "-" : fmtMiB(measured.besidePeakGrowth);
      if (variant === "keyed" && store === "local") keyedLocal = { dataset, wallMs: measured.wallMs, duckdbMs: base.wallMs };
      rows.push(`| ${variant}: edgesnap run | ${store} | ${fmtS(measured.wallMs)} | ${fmtMiB(measured.peakRss)} | ${ratio(measured.wallMs, base.wallMs)} | ${ratio(measured.peakRss, base.peakRss)} | ${growth} |`);
    }
  }

  if (cases.has("versions")) {
    const store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
    try {
      targets.push(...(await versionCases({ store, edgeUrl: edge.url, runEnv: runEnv("local"), say }, keyedLocal)));
    } finally {
      await store.close();
    }
  }

  if (cases.has("x10")) {
    const measured = await measure([NODE, "compute/run/child.ts", "flights-x10"], runEnv(stores[0]!), { ceiling: X10_CEILING, beside: stores[0] === "local" ? edge.pid : undefined });
    const verdict = measured.code === 0 ? "published" : `failed (exit ${measured.code})`;
    say(`flights-x10 ${stores[0]}: ${verdict}: ${measured.output.split("\n").find((line) => line.startsWith("flights-x10")) ?? ""}`);
    rows.push(`| 30M rows (flights x10), ceiling ${fmtMiB(X10_CEILING)} | ${stores[0]} | ${fmtS(measured.wallMs)} | ${fmtMiB(measured.peakRss)} | ${verdict} | | ${measured.besidePeakGrowth === undefined ? "-" : fmtMiB(measured.besidePeakGrowth)} |`);
  }

  if (cases.has("small")) {
    // A one-shot run of an example dataset: first with a private local runtime (nothing serves the
    // state dir, so the run starts workerd itself), then through the running local Worker.
    const small = { EDGESNAP_STORE: "local", EDGESNAP_TEMP_ROOT: path.join(work, "runs"), EDGESNAP_TOKEN: TOKEN };
    const timings: Record<string, Measured[]> = { before: [], after: [] };
    for (let i = 0; i < 3; i++) {
      timings.before!.push(await measure([NODE, "compute/cli/bin.ts", "run", "daily-delays", "--force"], { ...small, EDGESNAP_PERSIST_TO: path.join(work, "private"), EDGESNAP_EDGE_URL: `http://127.0.0.1:${await freePort()}` }));
      timings.after!.push(await measure([NODE, "compute/cli/bin.ts", "run", "daily-delays", "--force"], { ...small, EDGESNAP_PERSIST_TO: persistTo, EDGESNAP_EDGE_URL: edge.url }));
    }
    const median = (list: Measured[], pick: (m: Measured) => number) => list.map(pick).sort((a, b) => a - b)[1]!;
    for (const [when, label] of [["before", "private local runtime (workerd per run)"], ["after", "through the running local Worker"]] as const) {
      const list = timings[when]!;
      if (list.some((m) => m.code !== 0)) throw new Error(`small ${when} failed: ${list.map((m) => m.output.slice(-500)).join("\n")}`);
      rows.push(`| daily-delays one-shot, ${label} (median of 3) | local | ${fmtS(median(list, (m) => m.wallMs))} | ${fmtMiB(median(list, (m) => m.peakRss))} | | | |`);
    }
  }

  const table = rows.join("\n");
  say("");
  say(table);
  if (targets.length > 0) {
    say("");
    say(targets.join("\n"));
  }
  await mkdir(values.out, { recursive: true });
  await writeFile(path.join(values.out, "publish.md"), `${lines.join("\n")}\n`);
} finally {
  await edge?.stop();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
}
