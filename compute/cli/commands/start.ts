/**
 * `edgesnap start` (what `npm start` runs): the embedded default on one machine, no accounts.
 * Starts `wrangler dev` (local workerd, KV and R2 on disk), then the scheduler, which publishes
 * every dataset at once into that same local R2 and then on schedule, and fires the Worker's cron
 * locally (wrangler dev does not). SIGINT/SIGTERM stop everything; nothing is left running.
 *
 * Crash-only: one start per state dir (a lock that a crashed start leaves stale, never stuck);
 * wrangler runs under a watchdog and each run child watches its parent, so even a SIGKILL of this
 * process leaves no process behind; the next start comes up cleanly with a new token.
 */
import { randomBytes } from "node:crypto";
import { defineCommand } from "citty";
import { EDGE_ARGS, isLoopback, resolveEdgeUrl } from "../../admin-client/connect.ts";
import { describeConfig, loadConfig, localCronIntervalMs } from "../../config.ts";
import { startLocalCron } from "../../embedded/local-cron.ts";
import { removeLocalToken, writeLocalToken } from "../../embedded/local-token.ts";
import { acquireStateLock } from "../../embedded/state-lock.ts";
import { startWranglerDev, type WranglerDev } from "../../embedded/wrangler-dev.ts";
import { EdgesnapError } from "../../errors.ts";
import { jsonLineLog } from "../../scheduler/index.ts";
import { startOperatedScheduler, type OperatedScheduler } from "../../scheduler/operated.ts";
import { prepareTempRoot } from "../../scheduler/temp-root.ts";
import { loadScheduledDatasets } from "../datasets.ts";

function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}): void {
  jsonLineLog({ time: new Date().toISOString(), level, event, ...fields });
}

/** Where the local Worker listens: the port of the edge URL, which must be on this machine. */
function localListenAddress(edgeUrl: string): { ip: string; port: number } {
  const url = new URL(edgeUrl);
  if (url.protocol !== "http:" || !isLoopback(edgeUrl) || url.hostname === "[::1]") {
    throw new EdgesnapError("config", `edgesnap start serves the Worker on this machine: pass --port, or an http://127.0.0.1:<port> URL (got ${url.origin})`);
  }
  return { ip: url.hostname === "localhost" ? "127.0.0.1" : url.hostname, port: Number(url.port || 80) };
}

export default defineCommand({
  meta: { name: "start", description: "Run the whole system locally: wrangler dev plus the scheduler" },
  args: {
    port: { ...EDGE_ARGS.port, description: "Port of the local Worker (default 8787, or the port of EDGESNAP_EDGE_URL)" },
    url: { ...EDGE_ARGS.url, description: "URL of the local Worker, http://127.0.0.1:<port> (default: EDGESNAP_EDGE_URL or http://127.0.0.1:8787)" },
  },
  async run({ args }) {
    const { ip, port } = localListenAddress(resolveEdgeUrl(args));
    const config = loadConfig();
    if (config.store.kind !== "local") throw new EdgesnapError("config", "edgesnap start runs the embedded default; set EDGESNAP_STORE=local or use `edgesnap scheduler`");
    const { persistTo, wranglerConfig } = config.store;
    await prepareTempRoot(config.tempRoot);
    const { datasets, unloadable } = await loadScheduledDatasets(config, log);
    const cronIntervalMs = localCronIntervalMs();
    const lock = acquireStateLock(persistTo);
    try {
      if (lock.tookOver) log("warn", "stale-lock-taken-over", { file: lock.file, pid: lock.tookOver.pid });
      // A token per start unless one is configured: the local Worker and the runs share it, and the
      // operator commands find it beside the local state.
      const token = config.token ?? randomBytes(24).toString("base64url");
      const tokenFile = config.token ? null : await writeLocalToken(persistTo, token);
      try {
        const edge = await startEdge({ ip, port, persistTo, configPath: wranglerConfig, token, alertWebhook: config.alertWebhook });
        try {
          log("info", "edge.ready", { url: edge.url, admin: `${edge.url}/admin`, tokenFile, config: { ...describeConfig(config), edgeUrl: edge.url } });
          // With the token, the scheduler also takes rebuild requests from the edge and reports runs.
          const operated = await startOperatedScheduler(
            { config, datasets, unloadable, runAtStart: true, metricsPortFallback: true, env: { EDGESNAP_EDGE_URL: edge.url, EDGESNAP_TOKEN: token } },
            { edgeUrl: edge.url, token },
          );
          const cron = startLocalCron({ url: edge.url, intervalMs: cronIntervalMs, log });
          try {
            return await runUntilSignalOrEdgeExit(operated, edge);
          } finally {
            await cron.stop();
          }
        } finally {
          await edge.stop();
        }
      } finally {
        if (tokenFile) await removeLocalToken(persistTo);
      }
    } finally {
      lock.release();
    }
  },
});

/** Starts wrangler dev; until the scheduler owns the signals, a Ctrl-C must still stop it. */
async function startEdge(options: { ip: string; port: number; persistTo: string; configPath: string; token: string; alertWebhook?: string }): Promise<WranglerDev> {
  const starting = new AbortController();
  const abortStart = () => starting.abort();
  process.once("SIGINT", abortStart);
  process.once("SIGTERM", abortStart);
  try {
    return await startWranglerDev({
      ip: options.ip,
      port: options.port,
      persistTo: options.persistTo,
      configPath: options.configPath,
      // The storage API is on only for this local Worker: runs under npm start write through it.
      secrets: {
        EDGESNAP_TOKEN: options.token,
        EDGESNAP_STORAGE_API: "on",
        // Alerts from the local Worker's watchdog go where EDGESNAP_ALERT_WEBHOOK says, if anywhere.
        ...(options.alertWebhook ? { EDGESNAP_ALERT_WEBHOOK: options.alertWebhook } : {}),
      },
      adminToken: options.token,
      signal: starting.signal,
    });
  } finally {
    process.off("SIGINT", abortStart);
    process.off("SIGTERM", abortStart);
  }
}

/**
 * Runs until SIGINT/SIGTERM (exit 0; a second signal skips the grace period) or until wrangler
 * dev dies on its own (exit 8: the runs could publish, but nothing would serve them).
 */
async function runUntilSignalOrEdgeExit(operated: OperatedScheduler, edge: WranglerDev): Promise<number> {
  let signals = 0;
  let onSignal = () => {};
  const signalled = new Promise<"signal">((resolve) => {
    onSignal = () => {
      signals++;
      if (signals > 1) void operated.stop({ graceMs: 0 });
      resolve("signal");
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  try {
    const why = await Promise.race([signalled, edge.exited.then((how) => how)]);
    if (why === "signal") {
      await operated.stop();
      return 0;
    }
    log("error", "edge-exited", { url: edge.url, how: why });
    await operated.stop({ graceMs: 0 });
    return 8;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
