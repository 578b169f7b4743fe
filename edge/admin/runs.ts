/**
 * Run records in R2 at `runs/<dataset>/<run id>.json`. Run ids start with an inverted time, and R2
 * lists keys in ascending order, so a plain listing is newest first and R2's own cursor pages it.
 */
import { RUNS_PREFIX, RunRecordSchema, runObjectKey, type RunRecord, type RunsPage } from "../../contract/index.ts";

/** Stores a run record (idempotent: the same run reported twice is the same object). */
export async function storeRunRecord(env: Env, record: RunRecord): Promise<string> {
  const key = runObjectKey(record.dataset, record.id);
  await env.SNAPSHOTS.put(key, JSON.stringify(record), { httpMetadata: { contentType: "application/json" } });
  return key;
}

/** Reads one run record, or null. Records that no longer parse are treated as missing. */
export async function readRunRecord(env: Env, dataset: string, runId: string): Promise<RunRecord | null> {
  const object = await env.SNAPSHOTS.get(runObjectKey(dataset, runId));
  if (object === null) return null;
  const parsed = RunRecordSchema.safeParse(JSON.parse(await object.text()));
  return parsed.success ? parsed.data : null;
}

/** A page of a dataset's runs, newest first. */
export async function listRunRecords(env: Env, dataset: string, limit: number, cursor?: string): Promise<RunsPage> {
  const page = await env.SNAPSHOTS.list({ prefix: `${RUNS_PREFIX}${dataset}/`, limit, cursor });
  const records = await Promise.all(
    page.objects.map(async (object) => {
      const body = await env.SNAPSHOTS.get(object.key);
      if (body === null) return null;
      const parsed = RunRecordSchema.safeParse(JSON.parse(await body.text()));
      return parsed.success ? parsed.data : null;
    }),
  );
  return { runs: records.filter((r): r is RunRecord => r !== null), cursor: page.truncated ? page.cursor : null };
}

/** Datasets that have at least one run record (a dataset may have runs before its first publish). */
export async function listDatasetsWithRuns(env: Env): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.SNAPSHOTS.list({ prefix: RUNS_PREFIX, delimiter: "/", cursor });
    for (const prefix of page.delimitedPrefixes) names.push(prefix.slice(RUNS_PREFIX.length).replace(/\/$/, ""));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return names;
}
