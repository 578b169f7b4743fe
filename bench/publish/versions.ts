/**
 * What a version costs when only part of the data changed, against the targets: the
 * 3M-row flights table sorted by date (`flights-dated`) published at 99% of its rows, then with the
 * last 1% appended, then with every row of one day edited; the same table grown by 1% twenty
 * times; and a client that holds one version syncing to the next. Bytes uploaded are the objects a
 * run added to the store (read from the store itself), stored bytes every object the dataset holds.
 * Every run is a fresh process through the local store (a real `wrangler dev`), as `npm start` runs.
 */
import { createClient } from "../../client/src/index.ts";
import { listAll, type ObjectStore } from "../../contract/storage.ts";
import { readHead } from "../../contract/protocol/manifests.ts";
import { measure, type Measured } from "./measure.ts";

export interface VersionCaseContext {
  store: ObjectStore;
  edgeUrl: string;
  /** The environment of a run child through the local store. */
  runEnv: NodeJS.ProcessEnv;
  say: (line: string) => void;
}

const NODE = process.execPath;
const MiB = 1024 * 1024;

/** Every object of a dataset, key to size. */
async function objectsOf(store: ObjectStore, dataset: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for await (const page of listAll(store, `datasets/${dataset}/`)) for (const object of page.objects) sizes.set(object.key, object.size);
  return sizes;
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(2)}%`;
const times = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The current version's body size (from the head). */
async function bodyBytes(store: ObjectStore, dataset: string): Promise<number> {
  const read = (await readHead(store, dataset))!;
  return read.value.head.versions.find((v) => v.version === read.value.head.current)!.bytes;
}

/** One run of `dataset` with the bench variables; @returns the measurement and the bytes it added. */
async function publish(context: VersionCaseContext, dataset: string, env: Record<string, string>): Promise<{ run: Measured; added: number }> {
  const before = await objectsOf(context.store, dataset);
  const run = await measure([NODE, "compute/run/child.ts", dataset], { ...context.runEnv, ...env });
  if (run.code !== 0) throw new Error(`${dataset} ${JSON.stringify(env)} failed (${run.code}): ${run.output.slice(-2000)}`);
  const after = await objectsOf(context.store, dataset);
  return { run, added: sum([...after].filter(([key]) => !before.has(key)).map(([, size]) => size)) };
}

/** The version cases: returns the rows of the targets table. */
export async function versionCases(context: VersionCaseContext, keyed: { dataset: string; wallMs: number; duckdbMs: number } | null): Promise<string[]> {
  const rows = ["| measure | result | target |", "|---|---:|---:|"];
  const dataset = "flights-dated";
  await publish(context, dataset, { BENCH_FRACTION: "0.99" });
  const client = createClient({ baseUrl: context.edgeUrl });
  const held = client.follow(dataset);
  await held.sync();
  const unchanged = await publish(context, dataset, { BENCH_FRACTION: "0.99" });
  const append = await publish(context, dataset, { BENCH_FRACTION: "1" });
  const body = await bodyBytes(context.store, dataset);
  const synced = await held.sync();
  context.say(`append 1%: ${mib(append.added)} uploaded of a ${mib(body)} body in ${(append.run.wallMs / 1000).toFixed(2)} s (unchanged run ${(unchanged.run.wallMs / 1000).toFixed(2)} s); client sync fetched ${mib(synced.fetchedBytes)} (${synced.fetchedPages} pages, kept ${synced.keptPages})`);
  rows.push(`| appending 1% new rows to the 3M-row table sorted by date: bytes uploaded / body bytes | ${pct(append.added, body)} (${mib(append.added)} of ${mib(body)}) | ≤ 3% |`);
  rows.push(`| the same: publish wall time / the unchanged run's wall time | ${times(append.run.wallMs, unchanged.run.wallMs)} (${(append.run.wallMs / 1000).toFixed(2)} s / ${(unchanged.run.wallMs / 1000).toFixed(2)} s) | ≤ 1.5× |`);
  rows.push(`| a client holding version N syncs to N+1 after a 1% append: bytes fetched / body bytes | ${pct(synced.fetchedBytes, body)} (${synced.fetchedPages} of ${synced.fetchedPages + synced.keptPages} pages) | ≤ 5% |`);

  const edit = await publish(context, dataset, { BENCH_FRACTION: "1", BENCH_EDIT_DAY: "2001-06-15" });
  context.say(`edit one day: ${mib(edit.added)} uploaded`);
  rows.push(`| changing every row of one day in that table (a clustered edit): bytes uploaded / body bytes | ${pct(edit.added, body)} (${mib(edit.added)}) | ≤ 5% |`);

  const history = "flights-history";
  for (let step = 0; step < 20; step++) await publish(context, history, { BENCH_FRACTION: String((81 + step) / 100) });
  const stored = sum((await objectsOf(context.store, history)).values());
  const versions = (await readHead(context.store, history))!.value.head.versions.length;
  context.say(`20 versions appending 1% each: ${mib(stored)} stored for ${versions} versions`);
  rows.push(`| 20 versions, each appending 1%: storage / one version's body | ${times(stored, await bodyBytes(context.store, history))} (${mib(stored)}, ${versions} versions) | ≤ 1.5× (was 20×) |`);

  if (keyed !== null) {
    const keyedStored = sum((await objectsOf(context.store, keyed.dataset)).values());
    const keyedBody = await bodyBytes(context.store, keyed.dataset);
    rows.push(`| keyed 3M rows: stored bytes / body bytes | ${times(keyedStored, keyedBody)} (${mib(keyedStored)} for ${mib(keyedBody)}) | ≤ 1.3× (was 2×) |`);
    rows.push(`| keyed 3M rows, local store, wall time vs DuckDB's COPY | ${times(keyed.wallMs, keyed.duckdbMs)} (${(keyed.wallMs / 1000).toFixed(2)} s) | ≤ 8× (was 15.8×) |`);
  }
  return rows;
}
