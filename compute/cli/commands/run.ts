/**
 * `edgesnap run <dataset>`: one build-and-publish now. The build runs in a supervised child
 * process exactly as the scheduler runs it (scheduler/supervise.ts): the dataset's timeout and
 * memory ceiling, a private run dir removed on every path, the same result channel. So a one-shot
 * run also exits promptly when its storage dies or hangs (the timeout bounds it), SIGINT/SIGTERM
 * stop it cleanly (exit 130/143, run dir removed), and a SIGKILL of this process takes the child
 * and everything it started with it (the child watches its parent).
 *
 * Output: one line (or `--json`) and the exit code of the run: 0 published or unchanged, 2 bad
 * configuration, 3 unknown dataset, 4 build failed, timed out or over its memory ceiling, 5 gate,
 * 6 storage, 7 conflict, 8 edge unreachable.
 */
import path from "node:path";
import { defineCommand } from "citty";
import { EDGE_ARGS, resolveEdgeUrl, resolveToken } from "../../admin-client/connect.ts";
import { isRunResultOutcome } from "../../../contract/run-record.ts";
import { applyDatasetOverrides, loadConfig } from "../../config.ts";
import { findDataset, loadRegistry } from "../../dataset/registry.ts";
import { ERROR_CODES } from "../../errors.ts";
import { exitCodeFor, formatRunResult, type RunResult } from "../../run/result.ts";
import { DEFAULT_KILL_GRACE_MS, superviseRun, type SupervisedRun } from "../../scheduler/supervise.ts";
import { prepareTempRoot } from "../../scheduler/temp-root.ts";
import type { CliIO } from "../main.ts";

const CHILD_ENTRY = path.resolve(import.meta.dirname, "../../run/child.ts");

/** What `edgesnap run` prints: the child's own result, or the supervisor's verdict (timed out...). */
type OneShotResult = Omit<RunResult, "outcome"> & { outcome: SupervisedRun["outcome"] };

function toResult(run: SupervisedRun): OneShotResult {
  const { outcome, reason, rows, bytes, version, hash, code } = run;
  return { outcome, reason, rows, bytes, version, hash, durationMs: Math.round(run.durationMs), code };
}

function exitCode(result: OneShotResult, signal: NodeJS.Signals | null): number {
  if (result.outcome === "cancelled") return 128 + (signal === "SIGINT" ? 2 : 15);
  // The supervisor's verdicts (a timeout, a memory kill) are build failures.
  if (!isRunResultOutcome(result.outcome)) return ERROR_CODES["build-failed"];
  return exitCodeFor({ ...result, outcome: result.outcome });
}

export default defineCommand({
  meta: { name: "run", description: "Build one dataset now and publish it (no-op when the content is unchanged)" },
  args: {
    dataset: { type: "positional", description: "Dataset name", required: true },
    json: { type: "boolean", description: "Print the result as JSON", default: false },
    force: { type: "boolean", description: "Publish even unchanged content and skip the row-count gates", default: false },
    url: EDGE_ARGS.url,
    port: EDGE_ARGS.port,
  },
  async run({ args, data }) {
    const io = (data as { io: CliIO }).io;
    const config = loadConfig();
    const edgeUrl = resolveEdgeUrl(args);
    // Like the operator commands: a local start's token, found beside its state, for its notices.
    const token = resolveToken({}, edgeUrl, undefined, config.store.kind === "local" ? config.store.persistTo : undefined);
    await prepareTempRoot(config.tempRoot);
    // Unknown names, and a dataset whose module fails to load (exit 2), fail here with one line,
    // before any process starts; another dataset's broken module does not matter.
    const { definitions, broken } = await loadRegistry(config.datasets);
    const overridden = applyDatasetOverrides(definitions, config, broken.flatMap((module) => (module.name === null ? [] : [module.name])));
    const dataset = findDataset(overridden, args.dataset, broken);

    const stop = new AbortController();
    let signal: NodeJS.Signals | null = null;
    const onSignal = (received: NodeJS.Signals) => {
      signal ??= received;
      stop.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let run: SupervisedRun;
    try {
      run = await superviseRun({
        dataset: dataset.name,
        childEntry: CHILD_ENTRY,
        tempRoot: config.tempRoot,
        timeoutMs: dataset.limits.timeoutMs,
        memoryBytes: dataset.limits.memoryBytes,
        killGraceMs: DEFAULT_KILL_GRACE_MS,
        cwd: process.cwd(),
        env: {
          EDGESNAP_EDGE_URL: edgeUrl,
          ...(token ? { EDGESNAP_TOKEN: token } : {}),
          ...(args.force ? { EDGESNAP_FORCE: "1" } : {}),
        },
        signal: stop.signal,
        // The child's output goes on to stderr, but for its summary line, printed below once.
        onOutput: (stream, line) => {
          if (stream === "stderr" || !line.startsWith(`${dataset.name}: `)) io.stderr(`${line}\n`);
        },
        maxOutputLines: Number.MAX_SAFE_INTEGER,
      });
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    const result = toResult(run);
    io.stdout(args.json ? `${JSON.stringify({ dataset: dataset.name, ...result })}\n` : `${formatRunResult(dataset.name, result as RunResult)}\n`);
    return exitCode(result, signal);
  },
});
