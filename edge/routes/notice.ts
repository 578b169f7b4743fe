/**
 * The internal publish notice: the compute side calls it after writing a manifest, and the Worker
 * refreshes this dataset's KV copies and the catalog, and purges this location's cached current
 * URLs. It is an optimisation, not a correctness path: if a notice is lost, the cron reconcile
 * (`scheduled`) brings KV in line with R2 within a minute.
 */
import type { Context, Next } from "hono";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { findVersion, PublishNoticeSchema } from "../../contract/index.ts";
import { bearerToken, tokensEqual } from "../http/bearer.ts";
import { methodNotAllowed } from "../http/errors.ts";
import { readAllManifestsFromR2 } from "../snapshots/catalog.ts";
import { purgeCurrent } from "../snapshots/edge-cache.ts";
import { refreshCatalog, refreshDataset } from "../snapshots/reconcile.ts";

/** A notice is two short strings; anything larger is not a notice. */
const MAX_NOTICE_BYTES = 4096;

/**
 * Requires `Authorization: Bearer <EDGESNAP_TOKEN>`. Without a configured secret the endpoint is
 * disabled (503) rather than open to anyone.
 */
function requirePublishToken() {
  return async function requirePublishToken(c: Context<{ Bindings: Env }>, next: Next): Promise<void> {
    const expected = c.env.EDGESNAP_TOKEN;
    if (typeof expected !== "string" || expected === "") {
      throw new HTTPException(503, { message: "the publish notice is disabled: the EDGESNAP_TOKEN secret is not set" });
    }
    const presented = bearerToken(c.req.header("Authorization"));
    if (presented === null || !(await tokensEqual(presented, expected))) {
      c.header("WWW-Authenticate", 'Bearer realm="edgesnap"');
      throw new HTTPException(401, { message: "missing or wrong bearer token" });
    }
    await next();
  };
}

/** The internal routes, mounted at /internal/v1 by the app. */
export function noticeRoutes(): Hono<{ Bindings: Env }> {
  const routes = new Hono<{ Bindings: Env }>();

  const limitBody = bodyLimit({
    maxSize: MAX_NOTICE_BYTES,
    onError: () => {
      throw new HTTPException(413, { message: `a publish notice is at most ${MAX_NOTICE_BYTES} bytes` });
    },
  });

  routes.post("/publish-notice", requirePublishToken(), limitBody, async (c) => {
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
