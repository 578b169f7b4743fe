/**
 * What the one-shot commands print, for people and for machines. The format follows
 * EDGESNAP_LOG_FORMAT (`human` | `json`), like the scheduler's log; unset, it is human when stdout
 * is a terminal and json otherwise (a pipe, a file, CI), so scripts keep today's machine output.
 * Pure functions: the tests call them without a terminal.
 */
import { logFormat, type LogFormat } from "../config.ts";
import { formatFinishedRun as formatRunLine, type FinishedRunFields } from "../run/logger.ts";

export type OutputFormat = LogFormat;

/**
 * The output format: EDGESNAP_LOG_FORMAT, else human on a terminal and json otherwise (the
 * scheduler's log follows the same setting).
 * @throws {EdgesnapError} "config" naming the variable for any other value
 */
export function outputFormat(env: NodeJS.ProcessEnv, isTerminal: boolean): OutputFormat {
  return logFormat(env, isTerminal);
}

/** What the finished-run line shows of a one-shot run. */
export type FinishedRun = Omit<FinishedRunFields, "dataset" | "attempt" | "willRetry" | "retryInMs" | "consecutiveFailures">;

/**
 * One line per finished run, for a person: the scheduler's finished-run line
 * (compute/run/logger.ts) without the attempt, which a one-shot run does not have.
 *   `airport-delays  ok  20261201T120503123Z-55f9370a  3,399 rows  471.2 KiB  1.9s  peak 531.0 MiB`
 *   `cli-broken  FAILED  412ms  peak 150.3 MiB: build failed: upstream table is missing`
 */
export function formatFinishedRun(dataset: string, run: FinishedRun): string {
  return formatRunLine({ ...run, dataset });
}

/** A run child's log entry as far as a person needs it. */
interface ChildEntry {
  level?: unknown;
  event?: unknown;
  msg?: unknown;
  [field: string]: unknown;
}

/** Fields a person does not need repeated on a warning line: the line says them already. */
const LEFT_OUT = new Set(["time", "level", "event", "msg", "dataset", "run"]);

/**
 * A line a run child printed on stderr, for a person: its warnings and errors in full, its
 * progress (info and debug entries) left out unless `debug`, anything that is not a log entry (a
 * stack trace, a build's own print) as it is. Null for a line left out.
 */
export function humanChildLine(line: string, options: { debug?: boolean } = {}): string | null {
  let entry: ChildEntry | null = null;
  if (line.startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) entry = parsed as ChildEntry;
    } catch {
      // Not a log entry: shown as it is.
    }
  }
  if (entry === null) return line;
  const level = typeof entry.level === "string" ? entry.level : "info";
  if ((level === "info" || level === "debug") && !options.debug) return null;
  const what = typeof entry.event === "string" ? entry.event : typeof entry.msg === "string" ? entry.msg : "";
  const fields = Object.entries(entry)
    .filter(([name, value]) => !LEFT_OUT.has(name) && value !== undefined && value !== null)
    .map(([name, value]) => `${name}=${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  const tag = level === "warn" ? "warning" : level === "error" ? "error" : level;
  return [`${tag}: ${what}`, ...fields].join(" ");
}
