/**
 * `edgesnap pin <dataset>` and `edgesnap unpin <dataset>`: one command shape, two directions.
 * Pinned keeps the current version (runs still build and record but do not replace it).
 */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectEdge } from "../../edge-client/connect.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

/** The factory of `pin` (pinned = true) or `unpin`. */
export function pinCommand(pinned: boolean): CommandFactory {
  return (cli) =>
    defineCommand({
      meta: pinned
        ? { name: "pin", description: "Keep the current version: runs still build and record but do not replace it" }
        : { name: "unpin", description: "Let new builds replace the current version again" },
      args: {
        dataset: { type: "positional", description: "Dataset name", required: true },
        ...CONNECTION_ARGS,
      },
      async run({ args: own }) {
        const args = withGlobals(cli, own);
        const change = await connectEdge(args).setPinned(args.dataset, pinned);
        cli.io.stdout(args.json ? `${JSON.stringify(change)}\n` : `${change.dataset}: ${change.pinned ? "pinned" : "unpinned"} at ${change.current ?? "-"}\n`);
      },
    });
}

export default pinCommand(true);
