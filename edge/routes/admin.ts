/**
 * The admin API (`/admin/v1/...`), for the CLI, the status page and the scheduler. Every route
 * needs `Authorization: Bearer <EDGESNAP_TOKEN>` and answers `Cache-Control: no-store`. Rebuild
 * requests and run records live in R2 (edge/admin/requests.ts, edge/admin/runs.ts); rollback, pin
 * and prune swap the manifest by compare-and-swap (edge/admin/manifests.ts).
 */
import { Hono, type Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { z } from "zod";
import {
  ClaimRequestBodySchema,
  CompleteRequestBodySchema,
  datasetOfRequestId,
  DEFAULT_RUNS_PAGE,
  isDatasetName,
  MAX_RUNS_PAGE,
  PruneBodySchema,
  RollbackBodySchema,
  RunRecordSchema,
  type RebuildAccepted,
} from "../../contract/index.ts";
import { rollbackDataset, pruneVersions, setPinned } from "../admin/manifests.ts";
import { describeDataset, describeDatasets, isKnownDataset } from "../admin/overview.ts";
import { claimRequest, completeRequest, createRebuildRequest, listPendingRequests, readRequest } from "../admin/requests.ts";
import { listRunRecords, readRunRecord, storeRunRecord } from "../admin/runs.ts";
import { noStore, requireBearerToken } from "../http/auth.ts";

type AdminContext = Context<{ Bindings: Env }>;

/**
 * Parses the JSON body with `schema`; an empty body counts as `{}` when `emptyAllowed`.
 * @throws {HTTPException} 400 naming the first invalid field.
 */
export async function parseJsonBody<S extends z.ZodType>(c: AdminContext, schema: S, emptyAllowed = false): Promise<z.infer<S>> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim() !== "" || !emptyAllowed) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new HTTPException(400, { message: "body is not JSON" });
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HTTPException(400, { message: `invalid body: ${issue?.path.join(".") || "(root)"}: ${issue?.message}` });
  }
  return parsed.data;
}

function datasetParam(c: AdminContext): string {
  const name = c.req.param("name") ?? "";
  if (!isDatasetName(name)) throw new HTTPException(400, { message: `malformed dataset name "${name}"` });
  return name;
}

async function knownDataset(c: AdminContext): Promise<string> {
  const name = datasetParam(c);
  if (!(await isKnownDataset(c.env, name))) throw new HTTPException(404, { message: `unknown dataset ${name}` });
  return name;
}

function flag(value: string | undefined): boolean {
  return value !== undefined && value !== "0" && value !== "false";
}

/** The admin API, mounted at /admin/v1 by the app. */
export function adminApiRoutes(): Hono<{ Bindings: Env }> {
  const routes = new Hono<{ Bindings: Env }>();
  routes.use("*", noStore());
  routes.use("*", requireBearerToken());

  routes.get("/datasets", async (c) => c.json({ datasets: await describeDatasets(c.env) }));

  routes.get("/datasets/:name", async (c) => {
    const row = await describeDataset(c.env, datasetParam(c));
    if (row === null) throw new HTTPException(404, { message: `unknown dataset ${c.req.param("name")}` });
    return c.json(row);
  });

  routes.post("/datasets/:name/rebuild", async (c) => {
    const dataset = await knownDataset(c);
    const { request, coalesced } = await createRebuildRequest(c.env, dataset, { force: flag(c.req.query("force")) });
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
    return c.json(await listRunRecords(c.env, dataset, limit, c.req.query("cursor") || undefined));
  });

  routes.get("/datasets/:name/runs/:id", async (c) => {
    const dataset = datasetParam(c);
    const record = await readRunRecord(c.env, dataset, c.req.param("id"));
    if (record === null) throw new HTTPException(404, { message: `unknown run ${c.req.param("id")} of ${dataset}` });
    return c.json(record);
  });

  routes.post("/datasets/:name/rollback", async (c) => {
    const dataset = datasetParam(c);
    const body = await parseJsonBody(c, RollbackBodySchema);
    return c.json(await rollbackDataset(c.env, dataset, body.version, body.pin ?? true));
  });

  routes.post("/datasets/:name/pin", async (c) => c.json(await setPinned(c.env, datasetParam(c), true)));
  routes.post("/datasets/:name/unpin", async (c) => c.json(await setPinned(c.env, datasetParam(c), false)));

  routes.post("/prune", async (c) => {
    const body = await parseJsonBody(c, PruneBodySchema, true);
    return c.json(await pruneVersions(c.env, { keep: body.keep, dryRun: body.dry_run }));
  });

  routes.get("/requests/pending", async (c) => c.json({ requests: await listPendingRequests(c.env) }));

  routes.get("/requests/:id", async (c) => {
    const stored = await readRequest(c.env, c.req.param("id"));
    if (stored === null) throw new HTTPException(404, { message: `unknown request ${c.req.param("id")}` });
    return c.json(stored.value);
  });

  routes.post("/requests/:id/claim", async (c) => {
    const body = await parseJsonBody(c, ClaimRequestBodySchema, true);
    return c.json(await claimRequest(c.env, c.req.param("id"), body.run_id ?? null));
  });

  routes.post("/requests/:id/complete", async (c) => {
    const body = await parseJsonBody(c, CompleteRequestBodySchema);
    return c.json(await completeRequest(c.env, c.req.param("id"), body));
  });

  routes.post("/runs", async (c) => {
    const record = await parseJsonBody(c, RunRecordSchema);
    if (!isDatasetName(record.dataset)) throw new HTTPException(400, { message: `malformed dataset name "${record.dataset}"` });
    if (!/^[0-9A-Za-z-]{1,100}$/.test(record.id)) throw new HTTPException(400, { message: "malformed run id" });
    const key = await storeRunRecord(c.env, record);
    // The record links back to the operator's request: complete it here too, so a lost
    // "complete" call from the scheduler still leaves the request with its outcome.
    if (record.request_id !== null && datasetOfRequestId(record.request_id) === record.dataset) {
      await completeRequest(c.env, record.request_id, { outcome: record.outcome, version: record.version, run_id: record.id, reason: record.reason }).catch(
        (error: unknown) => {
          if (!(error instanceof HTTPException)) throw error;
        },
      );
    }
    return c.json({ ok: true as const, key }, 201);
  });

  return routes;
}
