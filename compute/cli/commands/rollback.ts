/** `edgesnap rollback <dataset> <version>`: serve a retained version again (older or newer). */
import { defineCommand } from "citty";
import { CONNECTION_ARGS, connectAdmin } from "../../admin-client/connect.ts";
import type { CliIO } from "../main.ts";

export default defineCommand({
  meta: { name: "rollback", description: "Make a retained version current again; pins the dataset unless --no-pin" },
  args: {
    dataset: { type: "positional", description: "Dataset name", required: true },
    version: { type: "positional", description: "Version id (see `edgesnap status --json`)", required: true },
    pin: { type: "boolean", description: "Pin the dataset so scheduled runs do not replace the version", default: true },
    ...CONNECTION_ARGS,
  },
  async run({ args, data }) {
    const io = (data as { io: CliIO }).io;
    const change = await connectAdmin(args).rollback(args.dataset, args.version, { pin: args.pin });
    io.stdout(
      args.json
        ? `${JSON.stringify(change)}\n`
        : `${change.dataset}: now serving ${change.current} (was ${change.previous ?? "-"})${change.pinned ? ", pinned: run `edgesnap unpin " + change.dataset + "` to let new builds publish" : ""}\n`,
    );
    return 0;
  },
});
