/** `edgesnap rollback <dataset> <version>`: serve a retained version again (older or newer). */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectEdge } from "../../edge-client/connect.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

const rollbackCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "rollback", description: "Make a retained version current again; pins the dataset unless --no-pin" },
    args: {
      dataset: { type: "positional", description: "Dataset name", required: true },
      version: { type: "positional", description: "Version id (see `edgesnap status --json`)", required: true },
      pin: { type: "boolean", description: "Pin the dataset so scheduled runs do not replace the version", default: true },
      ...CONNECTION_ARGS,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const { io } = cli;
      const change = await connectEdge(args).rollback(args.dataset, args.version, { pin: args.pin });
      io.stdout(
        args.json
          ? `${JSON.stringify(change)}\n`
          : `${change.dataset}: now serving ${change.current} (was ${change.previous ?? "-"})${change.pinned ? ", pinned: run `edgesnap unpin " + change.dataset + "` to let new builds publish" : ""}\n`,
      );
    },
  });

export default rollbackCommand;
