/** `edgesnap runs <dataset>`: the dataset's runs, newest first, one page at a time. */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectEdge } from "../../edge-client/connect.ts";
import { formatBytes, formatDuration, formatTable } from "../format.ts";
import { EdgesnapError } from "../../errors.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

const runsCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "runs", description: "List a dataset's runs, newest first" },
    args: {
      dataset: { type: "positional", description: "Dataset name", required: true },
      limit: { type: "string", description: "Runs per page (1-100)", default: "20" },
      cursor: { type: "string", description: "Cursor of the next page (printed under the table)" },
      ...CONNECTION_ARGS,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const { io } = cli;
      const limit = Number(args.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new EdgesnapError("config", `invalid --limit ${args.limit} (1-100)`);
      const page = await connectEdge(args).listRuns(args.dataset, { limit, cursor: args.cursor });
      if (args.json) {
        io.stdout(`${JSON.stringify(page)}\n`);
        return;
      }
      if (page.runs.length === 0) {
        io.stdout(`no runs of ${args.dataset} yet\n`);
        return;
      }
      const rows = page.runs.map((r) => [
        r.id,
        r.started_at.replace(/\.\d+Z$/, "Z"),
        r.trigger,
        r.outcome,
        formatDuration(r.duration_ms),
        formatBytes(r.peak_rss_bytes),
        r.rows === null ? "-" : String(r.rows),
        r.version ?? "-",
        r.reason ?? "",
      ]);
      io.stdout(`${formatTable(["RUN", "STARTED", "TRIGGER", "OUTCOME", "DURATION", "PEAK MEM", "ROWS", "VERSION", "REASON"], rows)}\n`);
      if (page.cursor) io.stdout(`more: edgesnap runs ${args.dataset} --cursor ${page.cursor}\n`);
    },
  });

export default runsCommand;
