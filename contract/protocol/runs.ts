/**
 * Run records in R2 at `runs/<dataset>/<run id>.json`. Run ids start with an inverted time, and R2
 * lists keys in ascending order, so a plain listing is newest first and the listing's own cursor
 * pages it. A record that no longer parses is skipped and named in `warnings`, so one bad object
 * degrades one row, never the whole answer.
 */
import type { RunsPage } from "../admin.ts";
import { runObjectKey, RUNS_PREFIX } from "../keys.ts";
import { RunRecordSchema, type RunRecord } from "../run-record.ts";
import { listFolders, type ObjectStore } from "../storage.ts";
import { readVersioned } from "./cas.ts";
import { ProtocolError } from "./errors.ts";

/** Run ids: letters, digits and dashes (the scheduler's are `<inverted ms>-<8 hex>`). */
export const RUN_ID_PATTERN = /^[0-9A-Za-z-]{1,100}$/;

function parseRecord(text: string): RunRecord {
  return RunRecordSchema.parse(JSON.parse(text));
}

function checkRunId(runId: string): void {
  if (!RUN_ID_PATTERN.test(runId)) throw new ProtocolError("invalid", `malformed run id ${JSON.stringify(runId.slice(0, 100))}`);
}

/** Stores a run record (idempotent: the same run reported twice is the same object). */
export async function storeRunRecord(store: ObjectStore, record: RunRecord): Promise<string> {
  checkRunId(record.id);
  const key = runObjectKey(record.dataset, record.id);
  await store.put(key, JSON.stringify(record), { contentType: "application/json" });
  return key;
}

/**
 * Reads one run record.
 * @returns null when there is none
 * @throws {ProtocolError} "invalid" for a malformed id; "corrupt" for an unreadable record
 */
export async function readRunRecord(store: ObjectStore, dataset: string, runId: string): Promise<RunRecord | null> {
  checkRunId(runId);
  return (await readVersioned(store, runObjectKey(dataset, runId), parseRecord))?.value ?? null;
}

/** A page of a dataset's runs, newest first; unreadable records are skipped and named in `warnings`. */
export async function listRunRecords(store: ObjectStore, dataset: string, limit: number, cursor?: string): Promise<RunsPage> {
  const page = await store.list(`${RUNS_PREFIX}${dataset}/`, { limit, cursor });
  const warnings: string[] = [];
  const records = await Promise.all(
    page.objects.map(async (object) => {
      try {
        return (await readVersioned(store, object.key, parseRecord))?.value ?? null;
      } catch (error) {
        warnings.push((error as Error).message);
        return null;
      }
    }),
  );
  return {
    runs: records.filter((r): r is RunRecord => r !== null),
    cursor: page.cursor ?? null,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** Datasets that have at least one run record (a dataset may have runs before its first publish). */
export function listDatasetsWithRuns(store: ObjectStore): Promise<string[]> {
  return listFolders(store, RUNS_PREFIX);
}
