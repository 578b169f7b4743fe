/** `edgesnap status`: every dataset's current version, age, size, pin state, last run and pending rebuild. */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectAdmin } from "../../admin-client/connect.ts";
import { formatAge, formatBytes, formatTable, secondsSince } from "../../admin-client/format.ts";
import type { CliIO } from "../main.ts";

export default defineCommand({
  meta: { name: "status", description: "Show every dataset: current version, age, rows, size, last run" },
  args: { ...CONNECTION_ARGS },
  async run({ args, data }) {
    const io = (data as { io: CliIO }).io;
    const datasets = await connectAdmin(args).listDatasets();
    if (args.json) {
      io.stdout(`${JSON.stringify({ datasets })}\n`);
      return 0;
    }
    if (datasets.length === 0) {
      io.stdout("no datasets yet\n");
      return 0;
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
    return 0;
  },
});
