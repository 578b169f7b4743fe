/**
 * `edgesnap kubernetes cronjobs [--image IMAGE] [--out FILE]`: writes one Kubernetes CronJob per
 * dataset of the registry (compute/scheduler/cronjobs.ts), from the definitions as the scheduler
 * would run them (EDGESNAP_SCHEDULES and the limit caps applied, EDGESNAP_TIMEZONE). The registry
 * is read in probe children only: nothing is built. Exit 2 for a dataset Kubernetes cannot
 * schedule (a seconds schedule) or a module that does not load.
 */
import { rename, writeFile } from "node:fs/promises";
import { defineCommand } from "citty";
import { applyDatasetOverrides, loadConfig } from "../../config.ts";
import { probeRegistry } from "../../dataset/registry.ts";
import { EdgesnapError } from "../../errors.ts";
import { cronJobsYaml, DEFAULT_IMAGE } from "../../scheduler/cronjobs.ts";
import type { CommandFactory } from "../context.ts";

const kubernetesCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "kubernetes", description: "Write Kubernetes manifests from the dataset definitions: `kubernetes cronjobs`, one CronJob per dataset" },
    args: {
      what: { type: "positional", description: "What to write: cronjobs", required: true },
      image: { type: "string", description: `The compute image (default ${DEFAULT_IMAGE})` },
      secret: { type: "string", description: "The Secret with the compute settings (default edgesnap-compute)" },
      out: { type: "string", description: "Write to this file instead of stdout" },
    },
    async run({ args }) {
      const { io } = cli;
      if (args.what !== "cronjobs") throw new EdgesnapError("config", `unknown manifest kind ${JSON.stringify(args.what)} (known: cronjobs)`);
      const config = loadConfig();
      const probe = await probeRegistry(config.datasets, { timeoutMs: config.moduleTimeoutMs });
      if (probe.broken.length > 0) throw new EdgesnapError("config", probe.broken[0]!.reason);
      const datasets = applyDatasetOverrides(probe.datasets, config);
      const yaml = cronJobsYaml(datasets, { image: args.image ?? DEFAULT_IMAGE, timezone: config.timezone, secretName: args.secret }, config.datasets);
      if (!args.out) return void io.stdout(yaml);
      // Written whole or not at all.
      await writeFile(`${args.out}.tmp`, yaml);
      await rename(`${args.out}.tmp`, args.out);
      io.stderr(`wrote ${datasets.length} CronJob${datasets.length === 1 ? "" : "s"} to ${args.out}\n`);
    },
  });

export default kubernetesCommand;
