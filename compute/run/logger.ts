/**
 * The compute side's one logger, one shape: every line is a `LogEntry`, `{ time, level, event,
 * ...fields }`, whether the scheduler, a run child or a dataset's build wrote it. Entries go to a
 * `LogSink`, which writes them in one of two formats (EDGESNAP_LOG_FORMAT):
 * - `json`: one JSON object per line, for log shippers (the default when the output is not a terminal);
 * - `human`: short lines for a person at a terminal (the default there): one line per finished run,
 *   warnings and errors in full, the chatter of each run (build started, built, published) left out.
 *
 * A run child always logs JSON on stderr (its supervisor sets EDGESNAP_LOG_FORMAT=json for it), and
 * the supervisor merges each of its entries into its own log as an object with the run's dataset
 * and run id (`childEntryOf`), never as an escaped string.
 */
import { formatBytes, formatDuration } from "../../contract/format.ts";
import { debugLogging, logFormat, type LogFormat } from "../config.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type { LogFormat } from "../config.ts";

/** One log line: `{ time, level, event, ...fields }`. */
export interface LogEntry {
  time: string;
  level: LogLevel;
  /** What happened, in a few words: "run-finished", "built", "publish notice failed; ...". */
  event: string;
  [field: string]: unknown;
}

/** Where entries go. A sink never throws at its caller (see `safeSink`). */
export type LogSink = (entry: LogEntry) => void;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every entry. */
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Errors do not survive JSON.stringify; keep their message (and code) instead. */
function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { message: value.message } : { message: value.message, code };
  }
  return value;
}

/** An entry stamped now, with `fields` made JSON-safe. */
export function logEntry(level: LogLevel, event: string, fields: LogFields = {}): LogEntry {
  const entry: LogEntry = { time: new Date().toISOString(), level, event };
  for (const [name, value] of Object.entries(fields)) {
    if (name !== "time" && name !== "level" && name !== "event") entry[name] = plain(value);
  }
  return entry;
}

/** The JSON format: the entry as one line. */
export function formatJsonLine(entry: LogEntry): string {
  return `${JSON.stringify(entry)}\n`;
}

export interface SinkOptions {
  /** Default: EDGESNAP_LOG_FORMAT, else human on a terminal and json otherwise. */
  format?: LogFormat;
  /** Where lines go. Default: process.stdout. */
  stream?: NodeJS.WriteStream;
  /** Entries below this level are dropped. Default "info" ("debug" when EDGESNAP_DEBUG is set). */
  level?: LogLevel;
}

/**
 * A sink that writes entries in the chosen format.
 * @throws {EdgesnapError} "config" for a malformed EDGESNAP_LOG_FORMAT
 */
export function createLogSink(options: SinkOptions = {}): LogSink {
  const stream = options.stream ?? process.stdout;
  const format = options.format ?? logFormat(process.env, stream.isTTY === true);
  const minimum = LEVELS[options.level ?? (debugLogging() ? "debug" : "info")];
  const debug = minimum <= LEVELS.debug;
  return safeSink(function writeLogEntry(entry) {
    if ((LEVELS[entry.level] ?? LEVELS.info) < minimum) return;
    const line = format === "json" ? formatJsonLine(entry) : formatHumanLine(entry, { debug });
    if (line !== null) stream.write(line);
  });
}

/** A sink handing each entry at or above `level` to `write` as one JSON line. */
export function jsonLineSink(write: (line: string) => void, level?: LogLevel): LogSink {
  const minimum = LEVELS[level ?? (debugLogging() ? "debug" : "info")];
  return safeSink(function writeJsonLine(entry) {
    if ((LEVELS[entry.level] ?? LEVELS.info) >= minimum) write(formatJsonLine(entry));
  });
}

let processSink: LogSink | null = null;

/**
 * Writes an entry to stdout in the configured format (EDGESNAP_LOG_FORMAT; human on a terminal,
 * json otherwise): the default log of the scheduler and of `edgesnap start`.
 */
export function writeLog(entry: LogEntry): void {
  if (processSink === null) {
    try {
      processSink = createLogSink();
    } catch {
      // A malformed EDGESNAP_LOG_FORMAT stops the process at start (loadConfig); until then, JSON.
      processSink = createLogSink({ format: "json" });
    }
  }
  processSink(entry);
}

/** A sink that survives its own failure: a broken log must never take a process down. */
export function safeSink(sink: LogSink): LogSink {
  return (entry) => {
    try {
      sink(entry);
    } catch {
      // Nothing sensible to do: the log itself is what failed.
    }
  };
}

export interface LoggerOptions {
  /** Fields on every entry (e.g. { dataset }). */
  fields?: LogFields;
  /** Where entries go. Default: a sink on stderr (where a run child logs), in the configured format. */
  sink?: LogSink;
  /** Instead of a sink: a function that gets each entry as one JSON line (tests, benchmarks). */
  write?: (line: string) => void;
  /** With `write`: entries below this level are dropped. Default "info" ("debug" with EDGESNAP_DEBUG). */
  level?: LogLevel;
}

/** Creates a logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink ?? (options.write ? jsonLineSink(options.write, options.level) : createLogSink({ stream: process.stderr }));
  const base = options.fields ?? {};
  const emit = (level: LogLevel, event: string, fields?: LogFields) => sink(logEntry(level, event, { ...base, ...fields }));
  return {
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
    child: (fields) => createLogger({ sink, fields: { ...base, ...fields } }),
  };
}

/**
 * A line a run child printed, read back as an entry: its own fields, with the dataset and run id
 * the supervisor knows (they win over the child's). Null for a line that is not a JSON object
 * (a plain print, a stack trace), which the caller logs as text.
 */
export function childEntryOf(line: string, run: { dataset: string; run: string }): LogEntry | null {
  if (!line.startsWith("{")) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  const fields = parsed as Record<string, unknown>;
  const level = typeof fields.level === "string" && fields.level in LEVELS ? (fields.level as LogLevel) : "info";
  // Older children wrote `msg`; keep reading it as the event.
  const event = typeof fields.event === "string" ? fields.event : typeof fields.msg === "string" ? fields.msg : "child-output";
  const time = typeof fields.time === "string" ? fields.time : new Date().toISOString();
  const { msg: _msg, ...rest } = fields;
  return { ...rest, time, level, event, dataset: run.dataset, run: run.run };
}

// ---- the human format ------------------------------------------------------------------------

/** Events a person at a terminal does not need: each run's progress (its finished line says it all). */
const QUIET_EVENTS = new Set([
  "run-started",
  "trigger-coalesced",
  "retry-scheduled",
  "rebuild-request-claimed",
  "run-report-recovered",
  "lease-acquired",
  "lease-released",
  "trigger-skipped",
  "scheduler.config",
]);

/** Fields the human line of any entry shows in its own way, or not at all. */
const SHOWN_APART = new Set(["time", "level", "event", "dataset", "run"]);

function clock(time: string): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? time : date.toISOString().slice(11, 19);
}

function value(v: unknown): string {
  if (typeof v === "string") return /\s/.test(v) || v === "" ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

function fieldsText(entry: LogEntry): string {
  return Object.entries(entry)
    .filter(([name, v]) => !SHOWN_APART.has(name) && v !== undefined && v !== null)
    .map(([name, v]) => `${name}=${value(v)}`)
    .join(" ");
}

/**
 * The human format of one entry, or null when it is left out (a run's progress at info level, unless
 * `debug`). Warnings and errors always show with all their fields.
 */
export function formatHumanLine(entry: LogEntry, options: { debug?: boolean } = {}): string | null {
  const special = HUMAN_FORMATS[entry.event]?.(entry);
  if (special === null && !options.debug) return null;
  if (typeof special === "string") return `${clock(entry.time)} ${special}\n`;
  const quiet = entry.level === "debug" || (entry.level === "info" && (QUIET_EVENTS.has(entry.event) || isRunProgress(entry))) || isRunVerdict(entry);
  if (quiet && !options.debug) return null;
  const tag = entry.level === "warn" ? "WARN " : entry.level === "error" ? "ERROR " : "";
  const who = typeof entry.dataset === "string" ? `${entry.dataset}: ` : "";
  const rest = fieldsText(entry);
  return `${clock(entry.time)} ${tag}${who}${entry.event}${rest ? ` ${rest}` : ""}\n`;
}

/** An info entry a run child wrote: its progress (a warning or error from a run is shown). */
function isRunProgress(entry: LogEntry): boolean {
  return typeof entry.run === "string" && entry.event !== "child-output";
}

/**
 * A run child's own verdict ("failed", "rejected"): the finished-run line says the same, with the
 * reason in full, one line later.
 */
function isRunVerdict(entry: LogEntry): boolean {
  return typeof entry.run === "string" && (entry.event === "failed" || entry.event === "rejected");
}

/**
 * Entries with a line of their own in the human format: a string is the line, null leaves the entry
 * out, undefined falls back to the generic line.
 */
const HUMAN_FORMATS: Record<string, (entry: LogEntry) => string | null | undefined> = {
  "run-finished": (entry) => formatFinishedRun(entry as unknown as FinishedRunFields),
  "scheduler-started": (entry) => {
    const names = Array.isArray(entry.datasets) ? (entry.datasets as string[]) : [];
    const where = typeof entry.url === "string" ? entry.url : `port ${String(entry.port)}`;
    return `scheduler started: ${names.length} dataset${names.length === 1 ? "" : "s"} (${names.join(", ") || "none"}); /healthz and /metrics at ${where}`;
  },
  "scheduler-stopping": () => "scheduler stopping (running builds get their grace period)",
  "scheduler-stopped": () => "scheduler stopped",
  "metrics-port-in-use": (entry) => `WARN ${String(entry.message)}`,
  "dataset-unloadable": (entry) => `ERROR ${String(entry.dataset)}: ${String(entry.reason)}`,
  "datasets-reload-failed": (entry) => `ERROR datasets not reloaded: ${String(entry.reason)} (${String(entry.hint)})`,
  "datasets-reloaded": (entry) => {
    const list = (field: string) => (Array.isArray(entry[field]) ? (entry[field] as string[]) : []);
    const parts = [
      list("added").length > 0 ? `added ${list("added").join(", ")} (runs once)` : "",
      list("changed").length > 0 ? `changed ${list("changed").join(", ")} (runs once)` : "",
      list("removed").length > 0 ? `removed ${list("removed").join(", ")}` : "",
      list("broken").length > 0 ? `broken ${list("broken").join(", ")}` : "",
    ];
    return `datasets reloaded: ${parts.filter(Boolean).join("; ")}`;
  },
  "child-output": (entry) => {
    // The run child's own summary line repeats what the finished-run line says.
    const line = String(entry.line ?? "");
    if (entry.stream === "stdout" && typeof entry.dataset === "string" && line.startsWith(`${entry.dataset}: `)) return null;
    return `${typeof entry.dataset === "string" ? `${entry.dataset} | ` : ""}${line}`;
  },
};

/** What the finished-run line needs: the scheduler's `run-finished` entry. */
export interface FinishedRunFields {
  dataset: string;
  outcome: string;
  reason?: string | null;
  version?: string | null;
  rows?: number | null;
  bytes?: number | null;
  durationMs?: number | null;
  peakRssBytes?: number | null;
  attempt?: number;
  willRetry?: boolean;
  retryInMs?: number | null;
  consecutiveFailures?: number;
}

/**
 * One line per finished run: dataset, outcome, version, rows, size, duration, peak memory; for a
 * run that did not confirm the content, its attempt, whether it is retried, and its reason in full.
 *   `airport-delays  ok  20261201T120503Z-55f9370a  3,399 rows  471.2 KiB  1.9s  peak 531.0 MiB`
 */
export function formatFinishedRun(run: FinishedRunFields): string {
  const parts = [run.dataset, run.outcome === "ok" || run.outcome === "unchanged" ? run.outcome : run.outcome.toUpperCase()];
  if (run.version) parts.push(run.version);
  if (typeof run.rows === "number") parts.push(`${run.rows.toLocaleString("en-US")} rows`);
  if (typeof run.bytes === "number") parts.push(formatBytes(run.bytes));
  parts.push(formatDuration(run.durationMs ?? null));
  if (typeof run.peakRssBytes === "number") parts.push(`peak ${formatBytes(run.peakRssBytes)}`);
  const line = parts.join("  ");
  if (run.outcome === "ok" || run.outcome === "unchanged" || run.outcome === "cancelled") return run.reason && run.outcome === "cancelled" ? `${line}: ${run.reason}` : line;
  // A scheduled run says which attempt it was; a one-shot run (`edgesnap run`) has none to say.
  if (run.attempt === undefined) return `${line}: ${run.reason ?? "no reason given"}`;
  const streak = (run.consecutiveFailures ?? 0) > 1 ? `, ${run.consecutiveFailures} failures in a row` : "";
  const retry = run.willRetry ? `, retry${typeof run.retryInMs === "number" ? ` in ${formatDuration(run.retryInMs)}` : ""}` : "";
  return `${line}  (attempt ${run.attempt}${retry}${streak}): ${run.reason ?? "no reason given"}`;
}
