/** `edgesnap run <dataset>`: one build-and-publish in this (short-lived) process. */
import { defineCommand } from "citty";
import { loadConfig } from "../../config.ts";
import { exitCodeFor, formatRunResult } from "../../run/result.ts";
import { runDatasetByName } from "../../run/run.ts";
import type { CliIO } from "../main.ts";

export default defineCommand({
  meta: { name: "run", description: "Build one dataset now and publish it (no-op when the content is unchanged)" },
  args: {
    dataset: { type: "positional", description: "Dataset name", required: true },
    json: { type: "boolean", description: "Print the result as JSON", default: false },
    force: { type: "boolean", description: "Publish even unchanged content and skip the row-count gates", default: false },
  },
  async run({ args, data }) {
    const io = (data as { io: CliIO }).io;
    const config = loadConfig();
    const result = await runDatasetByName(args.dataset, config, { force: args.force });
    io.stdout(args.json ? `${JSON.stringify({ dataset: args.dataset, ...result })}\n` : `${formatRunResult(args.dataset, result)}\n`);
    return exitCodeFor(result);
  },
});
