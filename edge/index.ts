/**
 * The edgesnap Worker: serves published snapshots (edge cache → KV hot copies → R2) and, on its
 * cron trigger every minute, makes sure every current version has its hot copies and the catalog is
 * current (a lost publish notice heals within a minute), sends the cache purges the rate limit
 * deferred, and checks every dataset's freshness (the watchdog's alerts).
 */
import { createApp } from "./app.ts";
import { openEdgeStorage, type EdgeStorage } from "./env.ts";
import { purgeTags } from "./sync/purge.ts";
import { reconcileAll } from "./sync/refresh.ts";
import { watchFreshness } from "./watchdog/index.ts";

const app = createApp();

/**
 * The cron's work: independent steps, each logged; one failing never stops the others.
 * @param ctx the cron's execution context (`ctx.cache` is Workers Cache where it is enabled)
 */
export async function everyMinute(storage: EdgeStorage, env: Env, ctx: Pick<ExecutionContext, "cache">): Promise<void> {
  const steps: Record<string, () => Promise<unknown>> = {
    reconcile: async () => {
      const report = await reconcileAll(storage);
      return { datasets: report.datasets.length, errors: report.errors.length };
    },
    purge: async () => (ctx.cache === undefined ? null : purgeTags(storage.store, ctx.cache, [])),
    watchdog: async () => (await watchFreshness(storage.store, env)).length,
  };
  await Promise.all(
    Object.entries(steps).map(async ([name, run]) => {
      try {
        console.log(JSON.stringify({ level: "info", msg: `cron: ${name}`, result: await run() }));
      } catch (error) {
        console.error(JSON.stringify({ level: "error", msg: `cron: ${name} failed`, error: error instanceof Error ? error.message : String(error) }));
      }
    }),
  );
}

export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(everyMinute(openEdgeStorage(env), env, ctx));
  },
} satisfies ExportedHandler<Env>;
