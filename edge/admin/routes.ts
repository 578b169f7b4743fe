/**
 * The admin API (`/admin/v1/...`), for the CLI, the status page and the scheduler. Every route
 * needs `Authorization: Bearer <EDGESNAP_TOKEN>` and answers `Cache-Control: no-store`. Rebuild
 * requests and run records live in R2; rollback, pin and prune change the manifest by
 * compare-and-swap (contract/protocol/), then run the same after-change step as a publish notice.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  ClaimRequestBodySchema,
  datasetOfRequestId,
  DEFAULT_RUNS_PAGE,
  isDatasetName,
  MAX_RUNS_PAGE,
  PruneBodySchema,
  RollbackBodySchema,
  RunRecordSchema,
  servedRequestIds,
  type ManifestChange as ManifestChangeAnswer,
  type PruneResult,
  type RebuildAccepted,
  type RunRecord,
} from "../../contract/index.ts";
import { listFolders, type ObjectStore } from "../../contract/storage.ts";
import { DATASETS_PREFIX } from "../../contract/keys.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { pruneDataset } from "../../contract/protocol/collect.ts";
import { readHead, rollback, setPinned, type HeadChangeResult } from "../../contract/protocol/manifests.ts";
import { claimRequest, completeRequest, createRebuildRequest, listPendingRequests, readRequest } from "../../contract/protocol/requests.ts";
import { listRunRecords, readRunRecord, storeRunRecord } from "../../contract/protocol/runs.ts";
import type { AppContext, AppEnv, EdgeStorage } from "../env.ts";
import { noStore, requireBearerToken } from "../http/auth.ts";
import { quoted } from "../http/errors.ts";
import { jsonBody, jsonBodyLimit } from "../http/json-body.ts";
import { executionContextOf } from "../read/cache.ts";
import { refreshAfterManifestChange, type PurgeContext } from "../sync/refresh.ts";
import { onRunReported } from "../watchdog/index.ts";
import { describeDataset, describeDatasets, isKnownDataset } from "./overview.ts";

function datasetParam(c: AppContext): string {
  const name = c.req.param("name") ?? "";
  if (!isDatasetName(name)) throw new HTTPException(400, { message: `malformed dataset name ${quoted(name)}` });
  return name;
}

async function knownDataset(c: AppContext): Promise<string> {
  const name = datasetParam(c);
  if (!(await isKnownDataset(c.var.store, name))) throw new HTTPException(404, { message: `unknown dataset ${name}` });
  return name;
}

function flag(value: string | undefined): boolean {
  return value !== undefined && value !== "0" && value !== "false";
}

function storage(c: AppContext): EdgeStorage {
  return { store: c.var.store, hot: c.var.hot };
}

/** Runs the after-change step when a manifest change happened, and answers what changed. */
export async function afterOperatorChange(storage: EdgeStorage, dataset: string, change: HeadChangeResult, ctx: PurgeContext | undefined): Promise<ManifestChangeAnswer> {
  if (change.changed) await refreshAfterManifestChange(storage, dataset, { before: change.before, after: { head: change.after, legacy: null } }, ctx);
  return { dataset, current: change.after.current, previous: change.before.current, pinned: change.after.pinned };
}

/**
 * Completes every rebuild request the run served, from its record: the one place a request is
 * completed, so a request is done exactly when its run's record is stored (the scheduler resends a
 * record until it is). A request of another dataset, or one that is gone, is skipped.
 */
async function completeServedRequests(store: ObjectStore, record: RunRecord): Promise<void> {
  for (const requestId of servedRequestIds(record)) {
    if (datasetOfRequestId(requestId) !== record.dataset) continue;
    await completeRequest(store, requestId, { outcome: record.outcome, version: record.version, run_id: record.id, reason: record.reason }).catch((error: unknown) => {
      if (!(error instanceof ProtocolError)) throw error;
    });
  }
}

/** Prunes every dataset to its newest `keep` versions; one junk manifest is a warning, not a failure. */
async function pruneAll(c: AppContext, keep: number, dryRun: boolean): Promise<PruneResult> {
  const result: PruneResult = { dry_run: dryRun, keep, datasets: [] };
  const warnings: string[] = [];
  for (const dataset of await listFolders(c.var.store, DATASETS_PREFIX)) {
    let pruned;
    try {
      pruned = await pruneDataset(c.var.store, dataset, { keep, dryRun });
    } catch (error) {
      // One junk manifest must not stop the prune of every other dataset.
      if (!(error instanceof ProtocolError && error.code === "corrupt")) throw error;
      warnings.push(error.message);
      continue;
    }
    if (pruned === null) continue;
    if (pruned.dropped.length === 0 && pruned.objects === 0) continue;
    if (pruned.change?.changed) {
      await refreshAfterManifestChange(storage(c), dataset, { before: pruned.change.before, after: (await readHead(c.var.store, dataset))?.value ?? null }, executionContextOf(c));
    }
    result.datasets.push({ dataset, versions: pruned.dropped.map((v) => v.version), objects: pruned.objects });
  }
  return { ...result, ...(warnings.length > 0 ? { warnings } : {}) };
}

/** The admin API, mounted at /admin/v1 by the app. */
export function adminApiRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("*", noStore());
  routes.use("*", requireBearerToken());
  // After the token check, so a stranger's body is never read at all.
  routes.use("*", jsonBodyLimit());

  routes.get("/datasets", async (c) => {
    const { rows, warnings } = await describeDatasets(c.var.store);
    return c.json({ datasets: rows.map((row) => row.dataset), ...(warnings.length > 0 ? { warnings } : {}) });
  });

  routes.get("/datasets/:name", async (c) => {
    const row = await describeDataset(c.var.store, datasetParam(c));
    if (row === null) throw new HTTPException(404, { message: `unknown dataset ${c.req.param("name")}` });
    return c.json(row.dataset);
  });

  routes.post("/datasets/:name/rebuild", async (c) => {
    const dataset = await knownDataset(c);
    const { request, coalesced } = await createRebuildRequest(c.var.store, dataset, { force: flag(c.req.query("force")) });
    const body: RebuildAccepted = { request_id: request.id, coalesced, request };
    return c.json(body, 202);
  });

  routes.get("/datasets/:name/runs", async (c) => {
    const dataset = await knownDataset(c);
    const raw = c.req.query("limit");
    const limit = raw === undefined ? DEFAULT_RUNS_PAGE : Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_PAGE) {
      throw new HTTPException(400, { message: `limit must be an integer from 1 to ${MAX_RUNS_PAGE}` });
    }
    return c.json(await listRunRecords(c.var.store, dataset, limit, c.req.query("cursor") || undefined));
  });

  routes.get("/datasets/:name/runs/:id", async (c) => {
    const dataset = datasetParam(c);
    const record = await readRunRecord(c.var.store, dataset, c.req.param("id"));
    if (record === null) throw new HTTPException(404, { message: `unknown run ${quoted(c.req.param("id"))} of ${dataset}` });
    return c.json(record);
  });

  routes.post("/datasets/:name/rollback", jsonBody(RollbackBodySchema), async (c) => {
    const dataset = datasetParam(c);
    const body = c.req.valid("json");
    return c.json(await afterOperatorChange(storage(c), dataset, await rollback(c.var.store, dataset, body.version, { pin: body.pin ?? true }), executionContextOf(c)));
  });

  routes.post("/datasets/:name/pin", async (c) => {
    const dataset = datasetParam(c);
    return c.json(await afterOperatorChange(storage(c), dataset, await setPinned(c.var.store, dataset, true), executionContextOf(c)));
  });

  routes.post("/datasets/:name/unpin", async (c) => {
    const dataset = datasetParam(c);
    return c.json(await afterOperatorChange(storage(c), dataset, await setPinned(c.var.store, dataset, false), executionContextOf(c)));
  });

  routes.post("/prune", jsonBody(PruneBodySchema), async (c) => {
    const { keep, dry_run: dryRun = false } = c.req.valid("json");
    return c.json(await pruneAll(c, keep, dryRun));
  });

  routes.get("/requests/pending", async (c) => {
    const { requests, warnings } = await listPendingRequests(c.var.store);
    return c.json({ requests, ...(warnings.length > 0 ? { warnings } : {}) });
  });

  routes.get("/requests/:id", async (c) => {
    const stored = await readRequest(c.var.store, c.req.param("id"));
    if (stored === null) throw new HTTPException(404, { message: `unknown request ${quoted(c.req.param("id"))}` });
    return c.json(stored.value);
  });

  routes.post("/requests/:id/claim", jsonBody(ClaimRequestBodySchema), async (c) => {
    return c.json(await claimRequest(c.var.store, c.req.param("id"), c.req.valid("json").run_id ?? null));
  });

  routes.post("/runs", jsonBody(RunRecordSchema), async (c) => {
    const record = c.req.valid("json");
    if (!isDatasetName(record.dataset)) throw new HTTPException(400, { message: `malformed dataset name ${quoted(record.dataset)}` });
    const key = await storeRunRecord(c.var.store, record);
    executionContextOf(c)?.waitUntil(onRunReported(c.var.store, c.env, record, c.req.url));
    await completeServedRequests(c.var.store, record);
    return c.json({ ok: true as const, key }, 201);
  });

  return routes;
}
