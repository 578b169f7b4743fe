/**
 * `edgesnap pin <dataset>` and `edgesnap unpin <dataset>`: one command shape, two directions.
 * Pinned keeps the current version (runs still build and record but do not replace it).
 */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectAdmin } from "../../admin-client/connect.ts";
import type { CliIO } from "../main.ts";

export function pinCommand(pinned: boolean) {
  return defineCommand({
    meta: pinned
      ? { name: "pin", description: "Keep the current version: runs still build and record but do not replace it" }
      : { name: "unpin", description: "Let new builds replace the current version again" },
    args: {
      dataset: { type: "positional", description: "Dataset name", required: true },
      ...CONNECTION_ARGS,
    },
    async run({ args, data }) {
      const io = (data as { io: CliIO }).io;
      const change = await connectAdmin(args).setPinned(args.dataset, pinned);
      io.stdout(args.json ? `${JSON.stringify(change)}\n` : `${change.dataset}: ${change.pinned ? "pinned" : "unpinned"} at ${change.current ?? "-"}\n`);
      return 0;
    },
  });
}

export default pinCommand(true);
