/**
 * `edgesnap run <dataset>`: one build-and-publish now, in a supervised child (../one-shot.ts): the
 * dataset's timeout and memory ceiling, a private run dir removed on every path. So a one-shot run
 * also exits promptly when its storage dies or hangs (the timeout bounds it).
 *
 * Output: one finished-run line (human on a terminal: dataset, outcome, version, rows, size,
 * duration, peak memory; the machine line `<dataset>: published ...` otherwise or with
 * EDGESNAP_LOG_FORMAT=json), or `--json`, and the exit code of the run: 0 published or unchanged,
 * 2 bad configuration, 3 unknown dataset, 4 build failed, timed out or over its memory ceiling,
 * 5 gate, 6 storage, 7 conflict, 8 edge unreachable.
 */
import { defineCommand } from "citty";
import { loadConfig } from "../../config.ts";
import { EDGE_ARGS, resolveEdgeUrl, resolveToken } from "../../edge-client/connect.ts";
import { formatRunResult, type RunResult } from "../../run/result.ts";
import { prepareTempRoot } from "../../scheduler/temp-root.ts";
import type { SupervisedRun } from "../../scheduler/supervise.ts";
import { withGlobals, type CommandFactory } from "../context.ts";
import { loadOneDataset } from "../datasets.ts";
import { oneShotExitCode, superviseOneShot } from "../one-shot.ts";
import { formatFinishedRun, outputFormat, type OutputFormat } from "../output.ts";

/** What `edgesnap run --json` prints: the run's result and the supervisor's figures. */
function jsonResult(dataset: string, run: SupervisedRun) {
  const { outcome, reason, rows, bytes, version, hash, code, peakRssBytes } = run;
  return { dataset, outcome, reason, rows, bytes, version, hash, durationMs: Math.round(run.durationMs), peakRssBytes, code };
}

/** The one line a finished run prints, in the chosen format. */
export function runLine(dataset: string, run: SupervisedRun, format: OutputFormat): string {
  const result = jsonResult(dataset, run);
  if (format === "human") return formatFinishedRun(dataset, result);
  return formatRunResult(dataset, result as RunResult);
}

const runCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "run", description: "Build one dataset now and publish it (no-op when the content is unchanged)" },
    args: {
      dataset: { type: "positional", description: "Dataset name", required: true },
      json: { type: "boolean", description: "Print the result as JSON" },
      force: { type: "boolean", description: "Publish even unchanged content and skip the row-count gates", default: false },
      url: EDGE_ARGS.url,
      port: EDGE_ARGS.port,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const format = outputFormat(process.env, cli.io.isTerminal === true);
      const config = loadConfig();
      const edgeUrl = resolveEdgeUrl(args);
      // Like the operator commands: a local start's token, found beside its state, for its notices.
      const token = resolveToken(args, edgeUrl, undefined, config.store.kind === "local" ? config.store.persistTo : undefined);
      await prepareTempRoot(config.tempRoot);
      const dataset = await loadOneDataset(config, args.dataset);
      const shot = await superviseOneShot({
        dataset,
        config,
        env: {
          EDGESNAP_EDGE_URL: edgeUrl,
          ...(token ? { EDGESNAP_TOKEN: token } : {}),
          ...(args.force ? { EDGESNAP_FORCE: "1" } : {}),
        },
        io: cli.io,
        format,
      });
      cli.io.stdout(`${args.json ? JSON.stringify(jsonResult(dataset.name, shot.run)) : runLine(dataset.name, shot.run, format)}\n`);
      cli.exitCode = oneShotExitCode(shot);
    },
  });

export default runCommand;
