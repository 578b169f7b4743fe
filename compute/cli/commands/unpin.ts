/** `edgesnap unpin <dataset>`: Let new builds replace the current version again. */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectAdmin } from "../../admin-client/connect.ts";
import type { CliIO } from "../main.ts";

export default defineCommand({
  meta: { name: "unpin", description: "Let new builds replace the current version again" },
  args: {
    dataset: { type: "positional", description: "Dataset name", required: true },
    ...CONNECTION_ARGS,
  },
  async run({ args, data }) {
    const io = (data as { io: CliIO }).io;
    const change = await connectAdmin(args).setPinned(args.dataset, false);
    io.stdout(args.json ? `${JSON.stringify(change)}\n` : `${change.dataset}: ${change.pinned ? "pinned" : "unpinned"} at ${change.current ?? "-"}\n`);
    return 0;
  },
});
