/**
 * What the other formats cost: publishes every bundled example dataset into a fresh local store
 * (wrangler's local R2), once with every format (the default) and once with `formats: []` (JSON
 * only), then runs each again on unchanged content. Prints the median time of a publish and of an
 * unchanged run, the time polars took to write and hash the formats (the run's "built" log line),
 * and the bytes stored per format, for each dataset and variant.
 *
 *   node bench/formats/index.ts [--rounds 3]
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { readHead, requireIndex } from "../../contract/protocol/manifests.ts";
import type { DatasetDefinition } from "../../compute/dataset/define.ts";
import { loadDatasets } from "../../compute/dataset/registry.ts";
import { createLogger } from "../../compute/run/logger.ts";
import { runDataset } from "../../compute/run/run.ts";
import { openStore } from "../../compute/storage/index.ts";

const examples = await loadDatasets(path.join(import.meta.dirname, "../../compute/examples/index.ts"));
const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);
/** The formatsMs of the last "formats written" log line. */
let lastFormatsMs = 0;
const quiet = createLogger({
  level: "info",
  write: (line) => {
    const record = JSON.parse(line) as { event?: string; formatsMs?: number };
    if (record.event === "formats written") lastFormatsMs = record.formatsMs ?? 0;
  },
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

interface Sample {
  publishMs: number;
  formatsMs: number;
  unchangedMs: number;
  bytes: Record<string, number>;
}

/** Publishes then re-runs every dataset (with `formats` overridden) into a fresh store. */
async function round(formats: DatasetDefinition["formats"] | null): Promise<Map<string, Sample>> {
  const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bench-formats-"));
  const config = { store: { kind: "local" as const, persistTo: path.join(work, "state"), wranglerConfig: "wrangler.toml" }, edgeUrl: "http://127.0.0.1:9", tempRoot: path.join(work, "runs") };
  const store = await openStore(config);
  const samples = new Map<string, Sample>();
  try {
    for (const example of examples) {
      const definition = formats === null ? example : { ...example, formats };
      const published = await runDataset(definition, { config, store, log: quiet, notify: false });
      const formatsMs = lastFormatsMs;
      const unchanged = await runDataset(definition, { config, store, log: quiet, notify: false });
      if (published.outcome !== "ok" || unchanged.outcome !== "unchanged") throw new Error(`${example.name}: ${published.reason ?? unchanged.reason}`);
      const head = (await readHead(store, example.name))!.value;
      const info = await requireIndex(store, example.name, head.head.current!, head);
      const bytes: Record<string, number> = { json: info.bytes };
      for (const [format, object] of Object.entries(info.formats)) bytes[format] = object.bytes;
      samples.set(example.name, { publishMs: published.durationMs, formatsMs, unchangedMs: unchanged.durationMs, bytes });
    }
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
  return samples;
}

const variants = { "all formats": null, "JSON only (formats: [])": [] as const };
const results: Record<string, Map<string, Sample>[]> = { "all formats": [], "JSON only (formats: [])": [] };
await round(null); // warm-up: polars, the page cache and the local runtime
for (let i = 0; i < rounds; i++) {
  // Alternate the order, so neither variant always runs on a warmer machine.
  const order = Object.entries(variants);
  if (i % 2 === 1) order.reverse();
  for (const [name, formats] of order) results[name]!.push(await round(formats));
}

console.log(`| dataset | variant | publish (median of ${rounds}) | of which writing formats | unchanged run | stored: json | csv | ndjson | parquet | total |`);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const example of examples) {
  for (const name of Object.keys(variants)) {
    const samples = results[name]!.map((r) => r.get(example.name)!);
    const bytes = samples[0]!.bytes;
    const total = Object.values(bytes).reduce((a, b) => a + b, 0);
    const cell = (format: string) => (bytes[format] === undefined ? "-" : kb(bytes[format]));
    console.log(
      `| ${example.name} | ${name} | ${median(samples.map((s) => s.publishMs))} ms | ${median(samples.map((s) => s.formatsMs))} ms | ${median(samples.map((s) => s.unchangedMs))} ms | ${cell("json")} | ${cell("csv")} | ${cell("ndjson")} | ${cell("parquet")} | ${kb(total)} |`,
    );
  }
}
