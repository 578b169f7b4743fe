/**
 * What every command gets from the command line around it. Commands are built by factories that
 * take this context (`runCommand(cli)`), so a command reaches its output and the options given
 * before its name without a cast, and `runCli` stays testable without spawning: the tests pass
 * their own `io`.
 */
import type { CommandDef } from "citty";
import type { EdgeArgs } from "../edge-client/connect.ts";

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is a terminal: human output by default (EDGESNAP_LOG_FORMAT overrides). */
  isTerminal?: boolean;
}

/** The options every command takes, also before its name: `edgesnap --url X status`. */
export interface GlobalArgs extends EdgeArgs {
  json?: boolean;
}

export interface CliContext {
  io: CliIO;
  /** The options given before the command's name (a command's own flags win). */
  globals: GlobalArgs;
  /**
   * The exit code of an outcome that is not an error: a run that failed or was rejected prints
   * its line and sets its code here. Errors get theirs at the one exit point (`runCli`).
   */
  exitCode: number;
}

/**
 * Builds one command for one invocation. citty's own `CommandDef<any>`: each command's args type
 * is its own, and citty's table of subcommands holds them the same way.
 */
export type CommandFactory = (cli: CliContext) => CommandDef<any>;

/**
 * A command's connection flags, each taken from before the command's name when the command was
 * not given it: `--url`/`--port` as a pair (one place names the edge), `--token` and `--json` alone.
 */
export function withGlobals<T extends GlobalArgs>(cli: CliContext, args: T): T {
  const { globals } = cli;
  const ownEdge = Boolean(args.url || args.port);
  return {
    ...args,
    url: ownEdge ? args.url : globals.url,
    port: ownEdge ? args.port : globals.port,
    token: args.token || globals.token,
    json: Boolean(args.json || globals.json),
  };
}
