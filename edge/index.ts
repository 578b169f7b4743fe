/**
 * The edgesnap Worker: serves published snapshots (edge cache → KV hot copies → R2) and, on its
 * cron trigger, makes sure every current version has its hot copies and the catalog is current, so
 * a lost publish notice heals within a minute.
 */
import { createApp } from "./app.ts";
import { openEdgeStorage } from "./env.ts";
import { reconcileAll } from "./sync/refresh.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(
      reconcileAll(openEdgeStorage(env)).then((report) => {
        console.log(JSON.stringify({ level: "info", msg: "reconciled", datasets: report.datasets.length, errors: report.errors.length }));
      }),
    );
  },
} satisfies ExportedHandler<Env>;
