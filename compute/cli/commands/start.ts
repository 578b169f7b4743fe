/**
 * `edgesnap start` (what `npm start` runs): the embedded default on one machine, no accounts.
 * Starts `wrangler dev` (local workerd, KV and R2 on disk), then the scheduler, which publishes
 * every dataset at once into that same local R2 and then on schedule. SIGINT/SIGTERM stop both;
 * nothing is left running.
 */
import { randomBytes } from "node:crypto";
import { defineCommand } from "citty";
import { applyDatasetOverrides, describeConfig, loadConfig } from "../../config.ts";
import { loadDatasets } from "../../dataset/registry.ts";
import { removeLocalToken, writeLocalToken } from "../../embedded/local-token.ts";
import { startWranglerDev } from "../../embedded/wrangler-dev.ts";
import { EdgesnapError } from "../../errors.ts";
import { jsonLineLog } from "../../scheduler/index.ts";
import { runOperatedSchedulerUntilSignal } from "../../scheduler/operated.ts";

export default defineCommand({
  meta: { name: "start", description: "Run the whole system locally: wrangler dev plus the scheduler" },
  args: {
    port: { type: "string", description: "Port of the local Worker", default: "8787" },
  },
  async run({ args }) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new EdgesnapError("config", `invalid --port ${args.port}`);
    const config = loadConfig();
    if (config.store.kind !== "local") throw new EdgesnapError("config", "edgesnap start runs the embedded default; set EDGESNAP_STORE=local or use `edgesnap scheduler`");
    const datasets = applyDatasetOverrides(await loadDatasets(config.datasets), config);
    // A token per start unless one is configured: the local Worker and the runs share it, and the
    // operator commands find it beside the local state.
    const token = config.token ?? randomBytes(24).toString("base64url");
    const tokenFile = config.token ? null : await writeLocalToken(config.store.persistTo, token);
    try {
      // Until the scheduler owns the signals, a Ctrl-C must still stop wrangler.
      const starting = new AbortController();
      const abortStart = () => starting.abort();
      process.once("SIGINT", abortStart);
      process.once("SIGTERM", abortStart);
      const edge = await startWranglerDev({
        port,
        persistTo: config.store.persistTo,
        configPath: config.store.wranglerConfig,
        vars: { EDGESNAP_TOKEN: token, EDGESNAP_STORAGE_API: "on" },
        signal: starting.signal,
      }).finally(() => {
        process.off("SIGINT", abortStart);
        process.off("SIGTERM", abortStart);
      });
      try {
        jsonLineLog({
          time: new Date().toISOString(),
          level: "info",
          event: "edge.ready",
          url: edge.url,
          admin: `${edge.url}/admin`,
          tokenFile,
          config: describeConfig(config),
        });
        // With the token, the scheduler also takes rebuild requests from the edge and reports runs.
        await runOperatedSchedulerUntilSignal(
          { config, datasets, runAtStart: true, env: { EDGESNAP_EDGE_URL: edge.url, EDGESNAP_TOKEN: token } },
          { edgeUrl: edge.url, token },
        );
        return 0;
      } finally {
        await edge.stop();
      }
    } finally {
      if (tokenFile) await removeLocalToken(config.store.persistTo);
    }
  },
});
