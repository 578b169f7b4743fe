/**
 * The edgesnap Worker: serves published snapshots (edge cache → KV → R2) and, on its cron
 * trigger, reconciles KV's hot copies with the R2 manifests so a lost publish notice heals.
 */
import { createApp } from "./app.ts";
import { reconcileAll } from "./snapshots/reconcile.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(
      reconcileAll(env).then((report) => {
        console.log(JSON.stringify({ level: "info", msg: "reconciled", datasets: report.datasets.length, errors: report.errors.length }));
      }),
    );
  },
} satisfies ExportedHandler<Env>;
