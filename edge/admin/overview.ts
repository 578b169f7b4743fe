/**
 * The operator's view of the datasets: what is current, how old, how big, how the last run went and
 * whether a rebuild is waiting. Read from R2 (the source of truth), not from KV's copies.
 */
import { currentVersion, type AdminDataset, type RunsPage } from "../../contract/index.ts";
import { listDatasetNames } from "../snapshots/catalog.ts";
import { readManifestFromR2 } from "../snapshots/read.ts";
import { latestRequest } from "./requests.ts";
import { listDatasetsWithRuns, listRunRecords } from "./runs.ts";

/** Every dataset with a manifest or a run record, sorted by name. */
export async function listKnownDatasets(env: Env): Promise<string[]> {
  const [published, run] = await Promise.all([listDatasetNames(env), listDatasetsWithRuns(env)]);
  return [...new Set([...published, ...run])].sort();
}

/** Whether the edge knows the dataset at all (it has been published or has run). */
export async function isKnownDataset(env: Env, dataset: string): Promise<boolean> {
  if ((await readManifestFromR2(env, dataset)) !== null) return true;
  const runs = await env.SNAPSHOTS.list({ prefix: `runs/${dataset}/`, limit: 1 });
  return runs.objects.length > 0;
}

/**
 * One dataset's overview row, or null when the edge does not know it. A caller that lists the
 * dataset's runs anyway passes that listing as `runsRead` (newest first), and last_run is its newest
 * instead of a second listing.
 */
export async function describeDataset(env: Env, dataset: string, now = new Date(), runsRead?: Promise<RunsPage>): Promise<AdminDataset | null> {
  const [manifest, runs, request] = await Promise.all([
    readManifestFromR2(env, dataset).catch(() => null),
    runsRead ?? listRunRecords(env, dataset, 1),
    latestRequest(env, dataset).catch(() => null),
  ]);
  if (manifest === null && runs.runs.length === 0) return null;
  const info = manifest === null ? undefined : currentVersion(manifest);
  return {
    name: dataset,
    current: info?.version ?? null,
    generated_at: info?.generated_at ?? null,
    age_seconds: info === undefined ? null : Math.max(0, Math.round((now.getTime() - Date.parse(info.generated_at)) / 1000)),
    rows: info?.rows ?? null,
    bytes: info?.bytes ?? null,
    pinned: manifest?.pinned ?? false,
    versions: manifest?.versions.map((v) => v.version) ?? [],
    last_run: runs.runs[0] ?? null,
    pending_request: request !== null && request.state !== "done" ? request : null,
  };
}

/** The overview of every known dataset. */
export async function describeDatasets(env: Env, now = new Date()): Promise<AdminDataset[]> {
  const names = await listKnownDatasets(env);
  const rows = await Promise.all(names.map((name) => describeDataset(env, name, now)));
  return rows.filter((r): r is AdminDataset => r !== null);
}
