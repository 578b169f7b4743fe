/**
 * The run's logger: one JSON object per line on stderr, so the scheduler (which captures a child's
 * stderr) and any log shipper can parse it without guessing. stdout stays free for the CLI's
 * one-line summaries.
 */
import { debugLogging } from "../config.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Fields on every line (e.g. { dataset }). */
  fields?: LogFields;
  /** Where lines go. Default: process.stderr. */
  write?: (line: string) => void;
  /** Lines below this level are dropped. Default "info" ("debug" when EDGESNAP_DEBUG is set). */
  level?: LogLevel;
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

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const minimum = LEVELS[options.level ?? (debugLogging() ? "debug" : "info")];
  const base = options.fields ?? {};
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < minimum) return;
    const record: LogFields = { time: new Date().toISOString(), level, msg: message, ...base };
    for (const [name, value] of Object.entries(fields ?? {})) record[name] = plain(value);
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}
