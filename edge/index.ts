/**
 * The edgesnap Worker: serves published snapshots (edge cache → KV hot copies → R2) and, on its
 * cron trigger every minute, makes sure every current version has its hot copies and the catalog is
 * current (a lost publish notice heals within a minute), sends the cache purges the rate limit
 * deferred, and checks every dataset's freshness (the watchdog's alerts): edge/sync/every-minute.ts.
 */
import { createApp } from "./app.ts";
import { openEdgeStorage } from "./env.ts";
import { everyMinute } from "./sync/every-minute.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(everyMinute(openEdgeStorage(env), env, ctx));
  },
} satisfies ExportedHandler<Env>;
