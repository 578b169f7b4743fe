/**
 * The internal publish notice: the compute side calls it after writing a manifest, and the Worker
 * runs its after-change step at once (hot copies, catalog, purge). It is an optimisation, not a
 * correctness path: the current version is always read from R2, and if a notice is lost the cron
 * makes the hot copies within a minute.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { findSummary } from "../../contract/head.ts";
import { PublishNoticeSchema } from "../../contract/manifest.ts";
import { readHead } from "../../contract/protocol/manifests.ts";
import type { AppEnv } from "../env.ts";
import { requireBearerToken } from "../http/auth.ts";
import { methodNotAllowed } from "../http/errors.ts";
import { jsonBody } from "../http/json-body.ts";
import { executionContextOf } from "../read/cache.ts";
import { refreshAfterManifestChange } from "../sync/refresh.ts";

/** A notice is two short strings; anything larger is not a notice. */
const MAX_NOTICE_BYTES = 4096;

/** The publish notice route, mounted under /internal/v1 by the app. */
export function noticeRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const limitBody = bodyLimit({
    maxSize: MAX_NOTICE_BYTES,
    onError: () => {
      throw new HTTPException(413, { message: `a publish notice is at most ${MAX_NOTICE_BYTES} bytes` });
    },
  });

  routes.post("/publish-notice", requireBearerToken(), limitBody, jsonBody(PublishNoticeSchema), async (c) => {
    const { dataset, version } = c.req.valid("json");
    const read = await readHead(c.var.store, dataset);
    if (read === null) throw new HTTPException(404, { message: `unknown dataset ${dataset}` });
    if (findSummary(read.value.head, version) === undefined) {
      throw new HTTPException(404, { message: `unknown version ${version} of dataset ${dataset}` });
    }
    await refreshAfterManifestChange({ store: c.var.store, hot: c.var.hot }, dataset, { before: null, after: read.value }, executionContextOf(c));
    return c.json({ ok: true, dataset, current: read.value.head.current });
  });

  routes.all("/publish-notice", methodNotAllowed("POST"));
  return routes;
}
