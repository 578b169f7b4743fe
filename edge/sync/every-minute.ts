/**
 * The Worker's cron, every minute: hot copies and the catalog reconciled with R2 (a lost publish
 * notice heals), the cache purges the rate limit deferred sent, and every dataset's freshness
 * checked (the watchdog's alerts). Independent steps: one failing never stops the others.
 */
import type { EdgeStorage } from "../env.ts";
import { watchFreshness, type WatchdogEnv } from "../watchdog/index.ts";
import { purgeTags, type TagPurger } from "./purge.ts";
import { reconcileAll } from "./refresh.ts";
import { log, errorFields } from "../log.ts";

/**
 * Runs the cron's steps, each logged as one line.
 * @param ctx the cron's execution context (`cache` is Workers Cache where it is enabled)
 */
export async function everyMinute(storage: EdgeStorage, env: WatchdogEnv, ctx: { cache?: TagPurger }): Promise<void> {
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
        log.info("cron step", { step: name, result: await run() });
      } catch (error) {
        log.error("cron step failed", { step: name, error: errorFields(error) });
      }
    }),
  );
}
