/**
 * The Worker's cron trigger, locally. `wrangler dev` fires no cron triggers, but
 * `GET /cdn-cgi/handler/scheduled` runs the Worker's scheduled handler, which reconciles KV with
 * the R2 manifests. `npm start` calls it on the cron's cadence (wrangler.toml: every minute), so a
 * run whose publish notice was lost (a one-shot run with a wrong token, a notice that timed out)
 * is served locally within about a minute, as it is in production.
 * https://developers.cloudflare.com/workers/examples/cron-trigger/#test-cron-triggers-using-wrangler
 */

export interface LocalCron {
  /** Stops firing; waits for a call in flight. */
  stop(): Promise<void>;
}

/**
 * Fires the local Worker's scheduled handler every `intervalMs`, never two at once, with one log
 * line per tick (as a deployed Worker's cron shows in its logs). A failed call is logged and
 * retried at the next tick.
 */
export function startLocalCron(options: {
  url: string;
  intervalMs: number;
  log: (level: "info" | "warn", event: string, fields?: Record<string, unknown>) => void;
}): LocalCron {
  let inFlight: Promise<void> | null = null;
  const fire = () => {
    if (inFlight) return;
    inFlight = (async () => {
      try {
        const response = await fetch(`${options.url}/cdn-cgi/handler/scheduled`, { signal: AbortSignal.timeout(30_000) });
        await response.body?.cancel();
        if (response.ok) options.log("info", "local-cron-fired", {});
        else options.log("warn", "local-cron-failed", { status: response.status });
      } catch (error) {
        options.log("warn", "local-cron-failed", { message: (error as Error).message });
      } finally {
        inFlight = null;
      }
    })();
  };
  const timer = setInterval(fire, options.intervalMs);
  options.log("info", "local-cron-started", { intervalMs: options.intervalMs });
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
