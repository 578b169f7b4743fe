/** `edgesnap status`: every dataset's current version, age, size, pin state, last run and pending rebuild. */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectEdge } from "../../edge-client/connect.ts";
import { formatAge, formatBytes, formatTable, secondsSince } from "../format.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

const statusCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "status", description: "Show every dataset: current version, age, rows, size, last run" },
    args: { ...CONNECTION_ARGS },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const { io } = cli;
      const datasets = await connectEdge(args).listDatasets();
      if (args.json) {
        io.stdout(`${JSON.stringify({ datasets })}\n`);
        return;
      }
      if (datasets.length === 0) {
        io.stdout("no datasets yet\n");
        return;
      }
      const rows = datasets.map((d) => [
        d.name,
        d.current ?? "-",
        formatAge(d.age_seconds),
        d.rows === null ? "-" : String(d.rows),
        formatBytes(d.bytes),
        d.pinned ? "pinned" : "",
        d.last_run ? `${d.last_run.outcome} ${formatAge(secondsSince(d.last_run.finished_at))} ago` : "-",
        d.pending_request ? `${d.pending_request.state} ${d.pending_request.id}` : "",
      ]);
      io.stdout(`${formatTable(["DATASET", "CURRENT", "AGE", "ROWS", "SIZE", "PIN", "LAST RUN", "REBUILD"], rows)}\n`);
    },
  });

export default statusCommand;
