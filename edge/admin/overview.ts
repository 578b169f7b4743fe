/**
 * The operator's view of the datasets: what is current, how old against its freshness budget, how
 * big, how the last run went, whether a rebuild is waiting and the watchdog's last alert. Read from R2 (the source of truth). An unreadable manifest, request
 * or run record degrades that dataset's row (named in `warnings`), never the whole answer.
 */
import { currentSummary, freshnessOf, type AdminDataset, type Alert, type DatasetHead, type RunRecord } from "../../contract/index.ts";
import { DATASETS_PREFIX, RUNS_PREFIX } from "../../contract/keys.ts";
import { readHead, requireIndex } from "../../contract/protocol/manifests.ts";
import { latestRequest } from "../../contract/protocol/requests.ts";
import { listDatasetsWithRuns, listRunRecords } from "../../contract/protocol/runs.ts";
import { listFolders, type ObjectStore } from "../../contract/storage.ts";
import { readLastAlerts } from "../watchdog/index.ts";
import { SCHEDULER_KEY } from "../watchdog/state.ts";

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

export interface DescribeOptions {
  /** How many recent runs to read (the row's `last_run` is the first). Default 1. */
  runs?: number;
  now?: Date;
  /** The watchdog's last alerts, when the caller read them already. */
  lastAlerts?: Record<string, Alert>;
}

export interface DatasetOverview {
  dataset: AdminDataset;
  /** The runs read for the row (newest first), for callers that show more of them. */
  runs: RunRecord[];
  warnings: string[];
}

/** One dataset's overview row, or null when the edge does not know it. */
export async function describeDataset(store: ObjectStore, dataset: string, options: DescribeOptions = {}): Promise<DatasetOverview | null> {
  const warnings: string[] = [];
  const unreadable = (what: string) => (error: unknown) => {
    warnings.push(`${what} of ${dataset} is unreadable: ${(error as Error).message}`);
    return null;
  };
  const [read, runs, request, lastAlerts] = await Promise.all([
    readHead(store, dataset).catch(unreadable("the manifest")),
    listRunRecords(store, dataset, options.runs ?? 1),
    latestRequest(store, dataset).catch(unreadable("the rebuild request")),
    options.lastAlerts ?? readLastAlerts(store).catch((error: unknown): Record<string, Alert> => unreadable("the alert state")(error) ?? {}),
  ]);
  warnings.push(...(runs.warnings ?? []));
  const manifest: DatasetHead | null = read?.value.head ?? null;
  if (manifest === null && runs.runs.length === 0 && warnings.length === 0) return null;
  const info = manifest === null ? undefined : currentSummary(manifest);
  const index = info === undefined ? null : await requireIndex(store, dataset, info.version, read!.value).catch(unreadable("the current version's index"));
  const now = options.now ?? new Date();
  const freshness = freshnessOf(
    { checked_at: info === undefined ? null : (manifest?.checked_at ?? null), generated_at: info?.generated_at ?? null, max_age_seconds: manifest?.max_age_seconds ?? null },
    now,
  );
  return {
    dataset: {
      name: dataset,
      current: info?.version ?? null,
      generated_at: info?.generated_at ?? null,
      ...freshness,
      rows: info?.rows ?? null,
      bytes: info?.bytes ?? null,
      pages: index?.pages.length ?? null,
      pinned: manifest?.pinned ?? false,
      versions: manifest?.versions.map((v) => v.version) ?? [],
      last_run: runs.runs[0] ?? null,
      pending_request: request !== null && request.state !== "done" ? request : null,
      last_alert: lastAlerts[dataset] ?? null,
    },
    runs: runs.runs,
    warnings,
  };
}

/** The overview of every known dataset, with what could not be read. */
export async function describeDatasets(store: ObjectStore, options: DescribeOptions = {}): Promise<{ rows: DatasetOverview[]; warnings: string[]; schedulerAlert: Alert | null }> {
  const [names, lastAlerts] = await Promise.all([listKnownDatasets(store), options.lastAlerts ?? readLastAlerts(store)]);
  const rows = (await Promise.all(names.map((name) => describeDataset(store, name, { ...options, lastAlerts })))).filter((r): r is DatasetOverview => r !== null);
  return { rows, warnings: rows.flatMap((row) => row.warnings), schedulerAlert: lastAlerts[SCHEDULER_KEY] ?? null };
}
