/**
 * One build in a supervised child, for `edgesnap run` and `edgesnap preview`: the child runs
 * exactly as the scheduler runs it (scheduler/supervise.ts), with the dataset's timeout and memory
 * ceiling and a private run dir removed on every path. Ctrl-C/SIGTERM stop it (exit 130/143), and
 * a SIGKILL of this process takes the child and everything it started with it (the child watches
 * its parent).
 */
import path from "node:path";
import { isRunResultOutcome } from "../../contract/run-record.ts";
import { debugLogging, type Config } from "../config.ts";
import type { DatasetDefinition } from "../dataset/define.ts";
import { ERROR_CODES } from "../errors.ts";
import { exitCodeFor } from "../run/result.ts";
import { DEFAULT_KILL_GRACE_MS, superviseRun, type SupervisedRun } from "../scheduler/supervise.ts";
import type { CliIO } from "./context.ts";
import { humanChildLine, type OutputFormat } from "./output.ts";

const CHILD_ENTRY = path.resolve(import.meta.dirname, "../run/child.ts");

export interface OneShotOptions {
  dataset: Pick<DatasetDefinition, "name" | "limits">;
  config: Pick<Config, "tempRoot">;
  /** The child's environment on top of this process's. */
  env: Record<string, string>;
  io: CliIO;
  /** How the child's log reaches stderr: as it is (json), or its warnings and errors only (human). */
  format: OutputFormat;
}

export interface OneShot {
  run: SupervisedRun;
  /** The signal that stopped it, if one did. */
  signal: NodeJS.Signals | null;
}

/** Runs the child to its end; never throws for anything the child does. */
export async function superviseOneShot(options: OneShotOptions): Promise<OneShot> {
  const { dataset, io } = options;
  const debug = debugLogging();
  const stop = new AbortController();
  let signal: NodeJS.Signals | null = null;
  const onSignal = (received: NodeJS.Signals) => {
    signal ??= received;
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const run = await superviseRun({
      dataset: dataset.name,
      childEntry: CHILD_ENTRY,
      tempRoot: options.config.tempRoot,
      timeoutMs: dataset.limits.timeoutMs,
      memoryBytes: dataset.limits.memoryBytes,
      killGraceMs: DEFAULT_KILL_GRACE_MS,
      cwd: process.cwd(),
      env: options.env,
      signal: stop.signal,
      onOutput: (stream, line) => {
        // The child's own summary line: the command prints its line once, from the result.
        if (stream === "stdout" && line.startsWith(`${dataset.name}: `)) return;
        const shown = options.format === "json" ? line : humanChildLine(line, { debug });
        if (shown !== null) io.stderr(`${shown}\n`);
      },
      maxOutputLines: Number.MAX_SAFE_INTEGER,
    });
    return { run, signal };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * The exit code of a one-shot build: 130/143 when a signal stopped it, the run's own code otherwise
 * (0 ok or unchanged, 4 build failed, 5 gate...); the supervisor's verdicts (a timeout, a memory
 * kill) are build failures.
 */
export function oneShotExitCode({ run, signal }: OneShot): number {
  if (run.outcome === "cancelled") return 128 + (signal === "SIGINT" ? 2 : 15);
  if (!isRunResultOutcome(run.outcome)) return ERROR_CODES["build-failed"];
  return exitCodeFor({ ...run, outcome: run.outcome, durationMs: run.durationMs });
}
