/**
 * The edgesnap command line. Each command is built for the invocation by a factory in
 * `commands/` that gets the CLI context (output, global options), and citty dispatches to it;
 * commands are imported lazily, so `edgesnap run` never loads the scheduler and `edgesnap
 * scheduler` never loads polars. `runCli` is the one exit point: it prints a single line for any
 * error and returns the exit code, which keeps the CLI testable without spawning a process.
 */
import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import { EDGE_ARGS } from "../edge-client/connect.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import type { CliContext, CliIO, CommandFactory } from "./context.ts";

export type { CliContext, CliIO } from "./context.ts";

type CommandModule = { default: CommandFactory };

/** Every command, by name, imported when it is run (or its help shown). */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  start: () => import("./commands/start.ts"),
  run: () => import("./commands/run.ts"),
  preview: () => import("./commands/preview.ts"),
  new: () => import("./commands/new.ts"),
  scheduler: () => import("./commands/scheduler.ts"),
  status: () => import("./commands/status.ts"),
  rebuild: () => import("./commands/rebuild.ts"),
  runs: () => import("./commands/runs.ts"),
  rollback: () => import("./commands/rollback.ts"),
  pin: () => import("./commands/pin.ts"),
  unpin: () => import("./commands/unpin.ts"),
  prune: () => import("./commands/prune.ts"),
  types: () => import("./commands/types.ts"),
  kubernetes: () => import("./commands/kubernetes.ts"),
};

/** The options every command takes, before or after its name. */
const GLOBAL_ARGS = {
  ...EDGE_ARGS,
  json: { type: "boolean", description: "Print JSON instead of tables and lines, for scripts" },
} as const;

/** The root command of one invocation: its global options land in `cli.globals` before dispatch. */
function rootCommand(cli: CliContext): CommandDef<typeof GLOBAL_ARGS> {
  return defineCommand({
    meta: {
      name: "edgesnap",
      description: "Build data snapshots in short-lived processes, publish them to R2, serve them from the edge.",
    },
    args: GLOBAL_ARGS,
    setup({ args }) {
      cli.globals = { url: args.url, port: args.port, token: args.token, json: args.json };
    },
    subCommands: Object.fromEntries(Object.entries(COMMANDS).map(([name, load]) => [name, async () => (await load()).default(cli)])),
  });
}

const PROCESS_IO: CliIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTerminal: process.stdout.isTTY === true,
};

/**
 * Runs the CLI with `argv` (without the node and script paths).
 * @returns the exit code: 0 on success, the command's outcome code (a failed run), an
 *   EdgesnapError's exit code on a known failure, 2 for a usage mistake, 1 otherwise.
 */
export async function runCli(argv: string[], io: CliIO = PROCESS_IO): Promise<number> {
  const cli: CliContext = { io, globals: {}, exitCode: 0 };
  const root = rootCommand(cli);
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    const usage = await usageOf(root, cli, argv);
    // citty colours its usage; a pipe or a file gets it plain.
    io.stdout(`${io.isTerminal ? usage : plain(usage)}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  try {
    await runCommand(root, { rawArgs: argv });
    return cli.exitCode;
  } catch (error) {
    const failure = isCittyUsageError(error) ? new EdgesnapError("config", plain((error as Error).message)) : toEdgesnapError(error);
    io.stderr(`edgesnap: ${failure.message}\n`);
    return failure.exitCode;
  }
}

/**
 * The usage of the command `argv` names, or of edgesnap itself. citty renders it; which command
 * is named is read the way citty dispatches (the first word that is neither an option nor the
 * value of a global option), since citty exports no lookup of its own.
 */
async function usageOf(root: CommandDef<typeof GLOBAL_ARGS>, cli: CliContext, argv: string[]): Promise<string> {
  const valueFlags = new Set(Object.entries(GLOBAL_ARGS).flatMap(([name, arg]) => (arg.type === "string" ? [`--${name}`] : [])));
  const name = argv.find((arg, i) => !arg.startsWith("-") && !valueFlags.has(argv[i - 1] ?? ""));
  const load = name ? COMMANDS[name] : undefined;
  if (!load) return renderUsage(root);
  return renderUsage((await load()).default(cli), root);
}

/** citty throws CLIError for unknown commands and missing arguments: a usage mistake, exit 2. */
function isCittyUsageError(error: unknown): boolean {
  return error instanceof Error && error.name === "CLIError";
}

/** citty colours the names in its messages; one plain line reads the same in a log. */
function plain(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}
