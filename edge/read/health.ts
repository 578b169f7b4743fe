/**
 * `GET /v1/health`, for uptime monitors: 200 `{"ok":true}` while every published dataset is within
 * its freshness budget, 503 naming the stale datasets (and those whose manifest is unreadable)
 * otherwise. Computed from the R2 manifests, the source of truth; cacheable for a few seconds so a
 * monitor polling it from many places costs little. It names datasets and ages, never a secret.
 */
import { Hono } from "hono";
import { freshnessOf, type Freshness } from "../../contract/freshness.ts";
import { currentSummary } from "../../contract/head.ts";
import { readAllHeads } from "../../contract/protocol/catalog.ts";
import type { AppEnv } from "../env.ts";
import { HEALTH_CACHE_SECONDS, HEALTH_TAG, sharedCacheControl } from "../http/cache-headers.ts";
import { methodNotAllowed } from "../http/errors.ts";

/** The health document. */
export interface HealthReport {
  ok: boolean;
  /** Published datasets checked. */
  datasets: number;
  stale: ({ name: string } & Freshness)[];
  /** Datasets whose manifest cannot be read (their routes answer 503). */
  unreadable: string[];
  time: string;
}

/** /v1/health, mounted at /v1/health by the public routes. */
export function healthRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", async (c) => {
    const now = new Date();
    const { heads, unreadable } = await readAllHeads(c.var.store);
    const published = heads.map(({ head }) => head).filter((head) => currentSummary(head) !== undefined);
    const stale = published
      .map((head) => ({ name: head.dataset, ...freshnessOf({ ...head, generated_at: currentSummary(head)!.generated_at }, now) }))
      .filter((entry) => entry.stale)
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const report: HealthReport = { ok: stale.length === 0 && unreadable.length === 0, datasets: published.length, stale, unreadable: unreadable.sort(), time: now.toISOString() };
    c.header("Cache-Control", sharedCacheControl(HEALTH_CACHE_SECONDS));
    c.header("Cache-Tag", HEALTH_TAG);
    return c.json(report, report.ok ? 200 : 503);
  });
  routes.all("/", methodNotAllowed("GET, HEAD"));
  return routes;
}
