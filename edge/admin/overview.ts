/**
 * The operator's view of the datasets: what is current, how old, how big, how the last run went and
 * whether a rebuild is waiting. Read from R2 (the source of truth). An unreadable manifest, request
 * or run record degrades that dataset's row (named in `warnings`), never the whole answer.
 */
import { currentVersion, type AdminDataset, type RunRecord, type SnapshotManifest } from "../../contract/index.ts";
import { DATASETS_PREFIX, RUNS_PREFIX } from "../../contract/keys.ts";
import { readManifest } from "../../contract/protocol/manifests.ts";
import { latestRequest } from "../../contract/protocol/requests.ts";
import { listDatasetsWithRuns, listRunRecords } from "../../contract/protocol/runs.ts";
import { listFolders, type ObjectStore } from "../../contract/storage.ts";

/** Every dataset with a manifest or a run record, sorted by name. */
export async function listKnownDatasets(store: ObjectStore): Promise<string[]> {
  const [published, run] = await Promise.all([listFolders(store, DATASETS_PREFIX), listDatasetsWithRuns(store)]);
  return [...new Set([...published, ...run])].sort();
}

/** Whether the edge knows the dataset at all (it has a manifest, readable or not, or has run). */
export async function isKnownDataset(store: ObjectStore, dataset: string): Promise<boolean> {
  const [manifests, runs] = await Promise.all([
    store.list(`${DATASETS_PREFIX}${dataset}/`, { limit: 1 }),
    store.list(`${RUNS_PREFIX}${dataset}/`, { limit: 1 }),
  ]);
  return manifests.objects.length > 0 || runs.objects.length > 0;
}

export interface DatasetOverview {
  dataset: AdminDataset;
  /** The runs read for the row (newest first), for callers that show more of them. */
  runs: RunRecord[];
  warnings: string[];
}

/**
 * One dataset's overview row, or null when the edge does not know it.
 * @param runs how many recent runs to read (the row's `last_run` is the first)
 */
export async function describeDataset(store: ObjectStore, dataset: string, options: { runs?: number; now?: Date } = {}): Promise<DatasetOverview | null> {
  const warnings: string[] = [];
  const unreadable = (what: string) => (error: unknown) => {
    warnings.push(`${what} of ${dataset} is unreadable: ${(error as Error).message}`);
    return null;
  };
  const [read, runs, request] = await Promise.all([
    readManifest(store, dataset).catch(unreadable("the manifest")),
    listRunRecords(store, dataset, options.runs ?? 1),
    latestRequest(store, dataset).catch(unreadable("the rebuild request")),
  ]);
  warnings.push(...(runs.warnings ?? []));
  const manifest: SnapshotManifest | null = read?.value ?? null;
  if (manifest === null && runs.runs.length === 0 && warnings.length === 0) return null;
  const info = manifest === null ? undefined : currentVersion(manifest);
  const now = options.now ?? new Date();
  return {
    dataset: {
      name: dataset,
      current: info?.version ?? null,
      generated_at: info?.generated_at ?? null,
      age_seconds: info === undefined ? null : Math.max(0, Math.round((now.getTime() - Date.parse(info.generated_at)) / 1000)),
      rows: info?.rows ?? null,
      bytes: info?.bytes ?? null,
      pages: info?.pages.length ?? null,
      pinned: manifest?.pinned ?? false,
      versions: manifest?.versions.map((v) => v.version) ?? [],
      last_run: runs.runs[0] ?? null,
      pending_request: request !== null && request.state !== "done" ? request : null,
    },
    runs: runs.runs,
    warnings,
  };
}

/** The overview of every known dataset, with what could not be read. */
export async function describeDatasets(store: ObjectStore, options: { runs?: number; now?: Date } = {}): Promise<{ rows: DatasetOverview[]; warnings: string[] }> {
  const names = await listKnownDatasets(store);
  const rows = (await Promise.all(names.map((name) => describeDataset(store, name, options)))).filter((r): r is DatasetOverview => r !== null);
  return { rows, warnings: rows.flatMap((row) => row.warnings) };
}
