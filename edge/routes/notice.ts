/**
 * The internal publish notice: the compute side calls it after writing a manifest, and the Worker
 * refreshes this dataset's KV copies and the catalog, and purges this location's cached current
 * URLs. It is an optimisation, not a correctness path: if a notice is lost, the cron reconcile
 * (`scheduled`) brings KV in line with R2 within a minute.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { findVersion, PublishNoticeSchema } from "../../contract/index.ts";
import { requireBearerToken } from "../http/auth.ts";
import { methodNotAllowed } from "../http/errors.ts";
import { readAllManifestsFromR2 } from "../snapshots/catalog.ts";
import { purgeCurrent } from "../snapshots/edge-cache.ts";
import { refreshCatalog, refreshDataset } from "../snapshots/reconcile.ts";

/** A notice is two short strings; anything larger is not a notice. */
const MAX_NOTICE_BYTES = 4096;

/** The internal routes, mounted at /internal/v1 by the app. */
export function noticeRoutes(): Hono<{ Bindings: Env }> {
  const routes = new Hono<{ Bindings: Env }>();

  const limitBody = bodyLimit({
    maxSize: MAX_NOTICE_BYTES,
    onError: () => {
      throw new HTTPException(413, { message: `a publish notice is at most ${MAX_NOTICE_BYTES} bytes` });
    },
  });

  routes.post("/publish-notice", requireBearerToken(), limitBody, async (c) => {
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      throw new HTTPException(400, { message: "body is not JSON" });
    }
    const parsed = PublishNoticeSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HTTPException(400, { message: `invalid notice: ${issue?.path.join(".") || "(root)"}: ${issue?.message}` });
    }
    const { dataset, version } = parsed.data;
    // Not forced: a repeated notice (a publisher's retry) finds KV equal to R2 and writes nothing,
    // which keeps within KV's one write per second per key.
    const result = await refreshDataset(c.env, dataset);
    if (result.manifest === null) throw new HTTPException(404, { message: `unknown dataset ${dataset}` });
    if (findVersion(result.manifest, version) === undefined) {
      throw new HTTPException(404, { message: `unknown version ${version} of dataset ${dataset}` });
    }
    await refreshCatalog(c.env, await readAllManifestsFromR2(c.env));
    await purgeCurrent(dataset);
    return c.json({ ok: true, dataset, current: result.manifest.current });
  });

  routes.all("/publish-notice", methodNotAllowed("POST"));
  return routes;
}
