/**
 * `edgesnap scheduler`: the long-lived compute process (what the container runs). It schedules the
 * registry's datasets and runs each build in a fresh child; it never loads polars itself.
 */
import { defineCommand } from "citty";
import { EDGE_ARGS, resolveEdgeUrl } from "../../edge-client/connect.ts";
import { withGlobals, type CommandFactory } from "../context.ts";
import { describeConfig, loadConfig } from "../../config.ts";
import { safeLog } from "../../scheduler/index.ts";
import { writeLog } from "../../run/logger.ts";
import { loadScheduledDatasets } from "../datasets.ts";
import { runSchedulerUntilSignal } from "../../scheduler/operated.ts";

const schedulerCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "scheduler", description: "Run every dataset on its schedule, each run in a fresh child process" },
    args: {
      "run-at-start": { type: "boolean", description: "Publish every dataset once at start", default: true },
      url: EDGE_ARGS.url,
      port: EDGE_ARGS.port,
    },
    async run({ args }) {
      const config = { ...loadConfig(), edgeUrl: resolveEdgeUrl(withGlobals(cli, args)) };
      const { datasets, unloadable } = await loadScheduledDatasets(config, safeLog(writeLog));
      writeLog({ time: new Date().toISOString(), level: "info", event: "scheduler.config", config: describeConfig(config) });
      // With EDGESNAP_TOKEN set, rebuild requests are polled from the edge and runs reported to it.
      await runSchedulerUntilSignal(
        { config, datasets, unloadable, runAtStart: args["run-at-start"], metricsHost: config.metricsHost, env: { EDGESNAP_EDGE_URL: config.edgeUrl } },
        { edgeUrl: config.edgeUrl, token: config.token },
      );
    },
  });

export default schedulerCommand;
