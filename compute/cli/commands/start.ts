/**
 * `edgesnap start` (what `npm start` runs): the embedded default on one machine, no accounts.
 * Starts `wrangler dev` (local workerd, KV and R2 on disk), then the scheduler, which publishes
 * every dataset at once into that same local R2 and then on schedule, and fires the Worker's cron
 * locally (wrangler dev does not). SIGINT/SIGTERM stop everything; nothing is left running.
 *
 * Crash-only: one start per state dir (a lock that a crashed start leaves stale, never stuck);
 * wrangler runs under a watchdog and each run child watches its parent, so even a SIGKILL of this
 * process leaves no process behind; the next start comes up cleanly with a new token. The Worker
 * itself is probed (../../embedded/edge-liveness.ts): an edge that stops answering, as after a
 * `kill -9` of its workerd, is restarted, and after too many restarts npm start stops with one
 * line (exit 8). While the edge is down, runs fail rather than open a second writer on its state.
 *
 * Output: on a terminal a ready banner (../start-banner.ts); wrangler's request lines, its offline
 * noise and its cron advice are left out unless EDGESNAP_DEBUG or `--verbose` asks for them.
 */
import { randomBytes } from "node:crypto";
import { defineCommand } from "citty";
import { debugLogging, describeConfig, loadConfig, localCronIntervalMs, type Config } from "../../config.ts";
import { watchEdgeLiveness } from "../../embedded/edge-liveness.ts";
import { startLocalCron } from "../../embedded/local-cron.ts";
import { removeLocalToken, writeLocalToken } from "../../embedded/local-token.ts";
import { acquireStateLock } from "../../embedded/state-lock.ts";
import { startWranglerDev, type WranglerDev } from "../../embedded/wrangler-dev.ts";
import { createWranglerLineFilter } from "../../embedded/wrangler-output.ts";
import { EDGE_ARGS, isLoopback, resolveEdgeUrl } from "../../edge-client/connect.ts";
import { EdgesnapError } from "../../errors.ts";
import type { DatasetDefinition } from "../../dataset/define.ts";
import type { UnloadableDataset } from "../../scheduler/index.ts";
import { writeLog } from "../../run/logger.ts";
import { startOperatedScheduler, type OperatedScheduler } from "../../scheduler/operated.ts";
import { prepareTempRoot } from "../../scheduler/temp-root.ts";
import { withGlobals, type CliContext, type CommandFactory } from "../context.ts";
import { loadScheduledDatasets } from "../datasets.ts";
import { outputFormat } from "../output.ts";
import { formatReadyBanner } from "../start-banner.ts";

function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}): void {
  writeLog({ time: new Date().toISOString(), level, event, ...fields });
}

/** Restarts of an edge that stopped answering allowed within RESTART_WINDOW_MS before npm start gives up. */
export const MAX_EDGE_RESTARTS = 3;
const RESTART_WINDOW_MS = 10 * 60_000;

/** Where the local Worker listens: the port of the edge URL, which must be on this machine. */
function localListenAddress(edgeUrl: string): { ip: string; port: number } {
  const url = new URL(edgeUrl);
  if (url.protocol !== "http:" || !isLoopback(edgeUrl) || url.hostname === "[::1]") {
    throw new EdgesnapError("config", `edgesnap start serves the Worker on this machine: pass --port, or an http://127.0.0.1:<port> URL (got ${url.origin})`);
  }
  return { ip: url.hostname === "localhost" ? "127.0.0.1" : url.hostname, port: Number(url.port || 80) };
}

/** How every (re)start of the local Worker is made. */
interface EdgeOptions {
  ip: string;
  port: number;
  persistTo: string;
  configPath: string;
  token: string;
  alertWebhook?: string;
  onLine: (line: string) => void;
}

const startCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "start", description: "Run the whole system locally: wrangler dev plus the scheduler" },
    args: {
      port: { ...EDGE_ARGS.port, description: "Port of the local Worker (default 8787, or the port of EDGESNAP_EDGE_URL)" },
      url: { ...EDGE_ARGS.url, description: "URL of the local Worker, http://127.0.0.1:<port> (default: EDGESNAP_EDGE_URL or http://127.0.0.1:8787)" },
      verbose: { type: "boolean", description: "Show all of wrangler dev's output (also with EDGESNAP_DEBUG)", default: false },
    },
    async run({ args }) {
      const { ip, port } = localListenAddress(resolveEdgeUrl(withGlobals(cli, args)));
      const human = outputFormat(process.env, cli.io.isTerminal === true) === "human";
      const config = loadConfig();
      if (config.store.kind !== "local") throw new EdgesnapError("config", "edgesnap start runs the embedded default; set EDGESNAP_STORE=local or use `edgesnap scheduler`");
      const { persistTo, wranglerConfig } = config.store;
      await prepareTempRoot(config.tempRoot);
      const scheduled = await loadScheduledDatasets(config, log);
      const cronIntervalMs = localCronIntervalMs();
      const lock = acquireStateLock(persistTo);
      try {
        if (lock.tookOver) log("warn", "stale-lock-taken-over", { file: lock.file, pid: lock.tookOver.pid });
        // A token per start unless one is configured: the local Worker and the runs share it, and the
        // operator commands find it beside the local state.
        const token = config.token ?? randomBytes(24).toString("base64url");
        const tokenFile = config.token ? null : await writeLocalToken(persistTo, token);
        try {
          const onLine = wranglerLinePrinter(cli, args.verbose || debugLogging());
          const edge: EdgeHolder = { current: await startEdge({ ip, port, persistTo, configPath: wranglerConfig, token, alertWebhook: config.alertWebhook, onLine }) };
          try {
            cli.exitCode = await runWithEdge(cli, { config, scheduled, token, tokenFile, cronIntervalMs, human }, edge, {
              ip, port, persistTo, configPath: wranglerConfig, token, alertWebhook: config.alertWebhook, onLine,
            });
          } finally {
            await edge.current.stop();
          }
        } finally {
          if (tokenFile) await removeLocalToken(persistTo);
        }
      } finally {
        lock.release();
      }
    },
  });

export default startCommand;

/** The local Worker of the moment: a restart replaces it. */
interface EdgeHolder {
  current: WranglerDev;
}

/** wrangler's lines on stderr, less its noise unless `verbose`. */
function wranglerLinePrinter(cli: CliContext, verbose: boolean): (line: string) => void {
  const filter = createWranglerLineFilter({ verbose });
  return (line) => {
    for (const shown of filter(line)) cli.io.stderr(`[wrangler] ${shown}\n`);
  };
}

/** Starts the scheduler and the local cron beside the running edge, says it is ready, and supervises. */
async function runWithEdge(
  cli: CliContext,
  start: { config: Config; scheduled: { datasets: DatasetDefinition[]; unloadable: UnloadableDataset[] }; token: string; tokenFile: string | null; cronIntervalMs: number; human: boolean },
  edge: EdgeHolder,
  edgeOptions: EdgeOptions,
): Promise<number> {
  const { config, scheduled, token } = start;
  const url = edge.current.url;
  // With the token, the scheduler also takes rebuild requests from the edge and reports runs.
  const operated = await startOperatedScheduler(
    { config, datasets: scheduled.datasets, unloadable: scheduled.unloadable, runAtStart: true, metricsPortFallback: true, env: { EDGESNAP_EDGE_URL: url, EDGESNAP_TOKEN: token } },
    { edgeUrl: url, token },
  );
  const metricsUrl = operated.scheduler.port ? `http://${config.metricsHost ?? "127.0.0.1"}:${operated.scheduler.port}/metrics` : null;
  if (start.human) {
    cli.io.stdout(formatReadyBanner({ url, tokenFile: start.tokenFile, metricsUrl, datasets: scheduled.datasets, unloadable: scheduled.unloadable, timezone: config.timezone }));
  } else {
    log("info", "edge.ready", { url, admin: `${url}/admin`, tokenFile: start.tokenFile, metrics: metricsUrl, config: { ...describeConfig(config), edgeUrl: url } });
  }
  const cron = startLocalCron({ url, intervalMs: start.cronIntervalMs, log });
  try {
    return await superviseEdge(operated, edge, edgeOptions);
  } finally {
    await cron.stop();
  }
}

/** Starts wrangler dev; until the scheduler owns the signals, a Ctrl-C must still stop it. */
async function startEdge(options: EdgeOptions): Promise<WranglerDev> {
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
      onLine: options.onLine,
      signal: starting.signal,
    });
  } finally {
    process.off("SIGINT", abortStart);
    process.off("SIGTERM", abortStart);
  }
}

/** The restarts of the last RESTART_WINDOW_MS: whether one more is allowed. Pure but for the clock. */
export function allowRestart(restarts: number[], now: number, max = MAX_EDGE_RESTARTS, windowMs = RESTART_WINDOW_MS): boolean {
  const recent = restarts.filter((at) => now - at < windowMs);
  restarts.splice(0, restarts.length, ...recent);
  return recent.length < max;
}

type EdgeEvent = { why: "signal" } | { why: "exited"; how: string } | { why: "dead"; reason: string };

/**
 * Runs until SIGINT/SIGTERM (exit 0; a second signal skips the grace period). An edge that stops
 * answering is restarted (at most MAX_EDGE_RESTARTS in ten minutes); wrangler dying on its own,
 * a failed restart or too many restarts stop the scheduler and end npm start with one line (exit 8:
 * the runs could publish, but nothing would serve them).
 */
async function superviseEdge(operated: OperatedScheduler, edge: EdgeHolder, edgeOptions: EdgeOptions): Promise<number> {
  let signals = 0;
  let onSignal = () => {};
  const signalled = new Promise<EdgeEvent>((resolve) => {
    onSignal = () => {
      signals++;
      if (signals > 1) void operated.stop({ graceMs: 0 });
      resolve({ why: "signal" });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  const restarts: number[] = [];
  try {
    for (;;) {
      const { url } = edge.current;
      let onDead: (reason: string) => void = () => {};
      const dead = new Promise<EdgeEvent>((resolve) => (onDead = (reason) => resolve({ why: "dead", reason })));
      const liveness = watchEdgeLiveness({ url, onDead });
      const event = await Promise.race([signalled, dead, edge.current.exited.then((how): EdgeEvent => ({ why: "exited", how }))]);
      await liveness.stop();
      if (event.why === "signal") {
        await operated.stop();
        return 0;
      }
      if (event.why === "exited") {
        log("error", "edge-exited", { url, how: event.how });
        return giveUp(operated, `wrangler dev exited on its own (${event.how}); stopped everything`);
      }
      if (!allowRestart(restarts, Date.now())) {
        log("error", "edge-unresponsive", { url, reason: event.reason, restarts: restarts.length });
        return giveUp(operated, `the local Worker at ${url} stopped answering again (${event.reason}) after ${MAX_EDGE_RESTARTS} restarts in ten minutes; stopped everything`);
      }
      restarts.push(Date.now());
      log("warn", "edge-unresponsive", { url, reason: event.reason, restart: restarts.length });
      await edge.current.stop();
      try {
        edge.current = await startEdge(edgeOptions);
      } catch (error) {
        if (signals > 0) {
          await operated.stop();
          return 0;
        }
        return giveUp(operated, `the local Worker at ${url} stopped answering and could not be restarted: ${(error as Error).message}`);
      }
      log("info", "edge-restarted", { url, restart: restarts.length });
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Stops the scheduler at once and ends npm start with one line, exit 8. */
async function giveUp(operated: OperatedScheduler, message: string): Promise<never> {
  await operated.stop({ graceMs: 0 });
  throw new EdgesnapError("edge", message);
}
