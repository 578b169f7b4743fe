/**
 * The operator's view of the datasets: what is current, how old against its freshness budget, how
 * big, how the last runs went, whether a rebuild is waiting and the watchdog's alerts; and, for one
 * dataset, its retained versions and its schema. Read from R2 (the source of truth). An unreadable
 * manifest, request or run record degrades that dataset's row (named in `warnings`), never the
 * whole answer.
 *
 * Every head and index read of the admin API's overview and of the status page is in this module:
 * the head for the dataset's row, the current version's index for its page count, and for one
 * dataset's page every retained version's index (`summarizeVersion`).
 */
import { currentSummary, freshnessOf, type AdminDataset, type Alert, type Column, type DatasetHead, type HeadState, type RunRecord, type VersionIndex } from "../../contract/index.ts";
import { DATASETS_PREFIX, RUNS_PREFIX } from "../../contract/keys.ts";
import { readVersioned } from "../../contract/protocol/cas.ts";
import { readHead, requireIndex } from "../../contract/protocol/manifests.ts";
import { latestRequest } from "../../contract/protocol/requests.ts";
import { listDatasetsWithRuns, listRunRecords } from "../../contract/protocol/runs.ts";
import { listFolders, type ObjectStore } from "../../contract/storage.ts";
import { ALERT_STATE_KEY, parseAlertState, SCHEDULER_KEY } from "../watchdog/state.ts";

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

/** The watchdog's alerts as the status page shows them: the last per key, and the recent ones. */
export interface AlertView {
  last: Record<string, Alert>;
  recent: Record<string, Alert[]>;
}

/** Reads the watchdog's alerts (one R2 read); none before the watchdog's first alert. */
export async function readAlertView(store: ObjectStore): Promise<AlertView> {
  const read = await readVersioned(store, ALERT_STATE_KEY, parseAlertState);
  return { last: read?.value.last_alerts ?? {}, recent: read?.value.recent_alerts ?? {} };
}

export interface DescribeOptions {
  /** How many recent runs to read (the row's `last_run` is the first). Default 1. */
  runs?: number;
  now?: Date;
  /** The watchdog's alerts, when the caller read them already. */
  alerts?: AlertView;
}

export interface DatasetOverview {
  dataset: AdminDataset;
  /** The runs read for the row (newest first), for callers that show more of them. */
  runs: RunRecord[];
  warnings: string[];
}

/** A retained version as the status page lists it. */
export interface VersionSummary {
  version: string;
  hash: string;
  generated_at: string;
  rows: number;
  bytes: number;
  pages: number;
  /** The formats published beside the JSON pages. */
  formats: string[];
}

/** One dataset's page: its row, retained versions (newest first), schema and recent alerts. */
export interface DatasetDetail extends DatasetOverview {
  versions: VersionSummary[];
  /** The current version's columns and key column; null before the first publish. */
  schema: { columns: Column[]; key: string | null } | null;
  /** The watchdog's recent alerts about the dataset, newest first. */
  alerts: Alert[];
}

/** The fields of a version the status page shows, and no others. */
export function summarizeVersion(info: VersionIndex): VersionSummary {
  return {
    version: info.version,
    hash: info.hash,
    generated_at: info.generated_at,
    rows: info.rows,
    bytes: info.bytes,
    pages: info.pages.length,
    formats: Object.keys(info.formats).sort(),
  };
}

/**
 * The newest `count` runs of a dataset, newest first. A listing may answer fewer keys than asked
 * (R2 does when it includes metadata), so it is followed page by page up to `count`.
 */
async function readRecentRuns(store: ObjectStore, dataset: string, count: number): Promise<{ runs: RunRecord[]; warnings: string[] }> {
  const runs: RunRecord[] = [];
  const warnings: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await listRunRecords(store, dataset, count - runs.length, cursor);
    runs.push(...page.runs);
    warnings.push(...(page.warnings ?? []));
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined && runs.length < count);
  return { runs, warnings };
}

interface DatasetState {
  manifest: DatasetHead | null;
  /** The head as read (a schema-2 manifest's indexes with it), to read the versions' indexes. */
  read: HeadState | null;
  /** The current version's index; null before the first publish or when it is unreadable. */
  current: VersionIndex | null;
  overview: DatasetOverview;
}

/** Reads one dataset's manifest, runs, request and alerts; null when the edge does not know it. */
async function readDatasetState(store: ObjectStore, dataset: string, options: DescribeOptions): Promise<DatasetState | null> {
  const warnings: string[] = [];
  const unreadable = (what: string) => (error: unknown) => {
    warnings.push(`${what} of ${dataset} is unreadable: ${(error as Error).message}`);
    return null;
  };
  const [read, runs, request, alerts] = await Promise.all([
    readHead(store, dataset).catch(unreadable("the manifest")),
    readRecentRuns(store, dataset, options.runs ?? 1),
    latestRequest(store, dataset).catch(unreadable("the rebuild request")),
    options.alerts ?? readAlertView(store).catch((error: unknown): AlertView => unreadable("the alert state")(error) ?? { last: {}, recent: {} }),
  ]);
  warnings.push(...runs.warnings);
  const manifest: DatasetHead | null = read?.value.head ?? null;
  if (manifest === null && runs.runs.length === 0 && warnings.length === 0) return null;
  const info = manifest === null ? undefined : currentSummary(manifest);
  const current = info === undefined ? null : await requireIndex(store, dataset, info.version, read!.value).catch(unreadable("the current version's index"));
  const freshness = freshnessOf(
    { checked_at: info === undefined ? null : (manifest?.checked_at ?? null), generated_at: info?.generated_at ?? null, max_age_seconds: manifest?.max_age_seconds ?? null },
    options.now ?? new Date(),
  );
  const row: AdminDataset = {
    name: dataset,
    current: info?.version ?? null,
    generated_at: info?.generated_at ?? null,
    ...freshness,
    rows: info?.rows ?? null,
    bytes: info?.bytes ?? null,
    pages: current?.pages.length ?? null,
    pinned: manifest?.pinned ?? false,
    versions: manifest?.versions.map((v) => v.version) ?? [],
    last_run: runs.runs[0] ?? null,
    pending_request: request !== null && request.state !== "done" ? request : null,
    last_alert: alerts.last[dataset] ?? null,
  };
  return { manifest, read: read?.value ?? null, current, overview: { dataset: row, runs: runs.runs, warnings } };
}

/** One dataset's overview row, or null when the edge does not know it. */
export async function describeDataset(store: ObjectStore, dataset: string, options: DescribeOptions = {}): Promise<DatasetOverview | null> {
  return (await readDatasetState(store, dataset, options))?.overview ?? null;
}

/** One dataset's page (its row plus versions, schema and recent alerts), or null when the edge does not know it. */
export async function describeDatasetDetail(store: ObjectStore, dataset: string, options: DescribeOptions = {}): Promise<DatasetDetail | null> {
  const alerts = options.alerts ?? (await readAlertView(store));
  const state = await readDatasetState(store, dataset, { ...options, alerts });
  if (state === null) return null;
  const indexes = await Promise.all(
    (state.manifest?.versions ?? []).map((summary) =>
      requireIndex(store, dataset, summary.version, state.read).catch((error: unknown) => {
        state.overview.warnings.push(`the index of ${dataset}@${summary.version} is unreadable: ${(error as Error).message}`);
        return null;
      }),
    ),
  );
  const info = state.current;
  return {
    ...state.overview,
    versions: indexes.filter((index): index is VersionIndex => index !== null).map(summarizeVersion),
    schema: info === null ? null : { columns: info.columns, key: info.key },
    alerts: alerts.recent[dataset] ?? (alerts.last[dataset] ? [alerts.last[dataset]] : []),
  };
}

/** The overview of every known dataset, with what could not be read. */
export async function describeDatasets(store: ObjectStore, options: DescribeOptions = {}): Promise<{ rows: DatasetOverview[]; warnings: string[]; schedulerAlert: Alert | null }> {
  const [names, alerts] = await Promise.all([listKnownDatasets(store), options.alerts ?? readAlertView(store)]);
  const rows = (await Promise.all(names.map((name) => describeDataset(store, name, { ...options, alerts })))).filter((r): r is DatasetOverview => r !== null);
  return { rows, warnings: rows.flatMap((row) => row.warnings), schedulerAlert: alerts.last[SCHEDULER_KEY] ?? null };
}
