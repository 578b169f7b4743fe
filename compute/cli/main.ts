/**
 * The edgesnap command line. Subcommands are imported lazily, so `edgesnap run` never loads the
 * scheduler and `edgesnap scheduler` never loads polars. `runCli` is the one place that catches:
 * it prints a single line for any error and returns the exit code, which keeps the CLI testable
 * without spawning a process.
 */
import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";

export const main = defineCommand({
  meta: {
    name: "edgesnap",
    description: "Build data snapshots in short-lived processes, publish them to R2, serve them from the edge.",
  },
  subCommands: {
    run: () => import("./commands/run.ts").then((m) => m.default),
    scheduler: () => import("./commands/scheduler.ts").then((m) => m.default),
    start: () => import("./commands/start.ts").then((m) => m.default),
    rebuild: () => import("./commands/rebuild.ts").then((m) => m.default),
    status: () => import("./commands/status.ts").then((m) => m.default),
    runs: () => import("./commands/runs.ts").then((m) => m.default),
    rollback: () => import("./commands/rollback.ts").then((m) => m.default),
    pin: () => import("./commands/pin.ts").then((m) => m.default),
    unpin: () => import("./commands/unpin.ts").then((m) => m.default),
    prune: () => import("./commands/prune.ts").then((m) => m.default),
    types: () => import("./commands/types.ts").then((m) => m.default),
    kubernetes: () => import("./commands/kubernetes.ts").then((m) => m.default),
  },
});

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: CliIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * Runs the CLI with `argv` (without the node and script paths).
 * @returns the exit code: 0 on success, EdgesnapError.exitCode on a known failure, 1 otherwise.
 */
export async function runCli(argv: string[], io: CliIO = PROCESS_IO): Promise<number> {
  const command = await resolveCommand(main, argv);
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${await renderUsage(command.cmd, command.parent)}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  try {
    // Run the subcommand directly: citty does not hand `data` down to subcommands itself.
    const rawArgs = command.parent ? argv.slice(argv.indexOf(command.name!) + 1) : argv;
    const { result } = await runCommand(command.cmd, { rawArgs, data: { io } });
    return typeof result === "number" ? result : 0;
  } catch (error) {
    const failure = isCittyUsageError(error)
      ? new EdgesnapError("config", (error as Error).message)
      : toEdgesnapError(error);
    io.stderr(`edgesnap: ${failure.message}\n`);
    return failure.exitCode;
  }
}

/** Finds the (sub)command that `argv` names, for usage output. */
async function resolveCommand(
  root: CommandDef,
  argv: string[],
): Promise<{ cmd: CommandDef; parent?: CommandDef; name?: string }> {
  const subCommands = typeof root.subCommands === "function" ? await root.subCommands() : await root.subCommands;
  const name = argv.find((arg) => !arg.startsWith("-"));
  const entry = name ? subCommands?.[name] : undefined;
  if (!entry) return { cmd: root };
  const cmd = (typeof entry === "function" ? await entry() : await entry) as CommandDef;
  return { cmd, parent: root, name };
}

/** citty throws CLIError for unknown commands and missing arguments: a usage mistake, exit 2. */
function isCittyUsageError(error: unknown): boolean {
  return error instanceof Error && error.name === "CLIError";
}
