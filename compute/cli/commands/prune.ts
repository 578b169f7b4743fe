/** `edgesnap prune [--keep N] [--dry-run]`: drop versions beyond the retention count, everywhere. */
import { defineCommand } from "citty";
import { DEFAULT_RETAINED_VERSIONS } from "../../../contract/index.ts";
import { CONNECTION_ARGS, connectEdge } from "../../edge-client/connect.ts";
import { formatTable } from "../format.ts";
import { EdgesnapError } from "../../errors.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

const pruneCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "prune", description: "Delete versions beyond the newest N of every dataset (never the current one)" },
    args: {
      keep: { type: "string", description: `Versions to keep per dataset (default ${DEFAULT_RETAINED_VERSIONS})`, default: String(DEFAULT_RETAINED_VERSIONS) },
      "dry-run": { type: "boolean", description: "Only list what would be deleted", default: false },
      ...CONNECTION_ARGS,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const { io } = cli;
      const keep = Number(args.keep);
      if (!Number.isInteger(keep) || keep < 1) throw new EdgesnapError("config", `invalid --keep ${args.keep} (an integer >= 1)`);
      const result = await connectEdge(args).prune({ keep, dryRun: args["dry-run"] });
      if (args.json) {
        io.stdout(`${JSON.stringify(result)}\n`);
        return;
      }
      const verb = result.dry_run ? "would delete" : "deleted";
      if (result.datasets.length === 0) {
        io.stdout(`nothing to prune (keep ${keep})\n`);
        return;
      }
      const rows = result.datasets.map((d) => [d.dataset, String(d.versions.length), String(d.objects), d.versions.join(" ")]);
      io.stdout(`${formatTable(["DATASET", "VERSIONS", "OBJECTS", "IDS"], rows)}\n`);
      const total = result.datasets.reduce((n, d) => n + d.versions.length, 0);
      io.stdout(`${verb} ${total} version(s) beyond the newest ${keep}${result.dry_run ? " (dry run: nothing changed)" : ""}\n`);
    },
  });

export default pruneCommand;
