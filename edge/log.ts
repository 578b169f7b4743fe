/**
 * The Worker's one logger, in the compute side's shape: every line is one JSON object,
 * `{ time, level, event, ...fields }`, so Workers Logs (and `wrangler tail`) index the same field
 * names the scheduler's JSON log has. Each level goes to its console method (info to
 * `console.log`, warn to `console.warn`, error to `console.error`), which is where Workers Logs
 * takes a line's level from.
 *
 * Errors become `{ message, code? }`: a stack holds nothing an operator can act on at the edge, and
 * an Error does not survive JSON.stringify.
 */
export type EdgeLogLevel = "info" | "warn" | "error";
export type EdgeLogFields = Record<string, unknown>;

export interface EdgeLogEntry {
  time: string;
  level: EdgeLogLevel;
  /** What happened, in a few words: "unreadable object", "cron step failed". */
  event: string;
  [field: string]: unknown;
}

const WRITERS: Record<EdgeLogLevel, (line: string) => void> = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
};

/** An Error as the fields that survive JSON: its message, and its code when it has one. */
export function errorFields(error: unknown): { message: string; code?: string } {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? { message: error.message, code } : { message: error.message };
}

/** The entry a call writes; fields named time, level or event are dropped rather than let overwrite them. */
export function edgeLogEntry(level: EdgeLogLevel, event: string, fields: EdgeLogFields = {}): EdgeLogEntry {
  const entry: EdgeLogEntry = { time: new Date().toISOString(), level, event };
  for (const [name, value] of Object.entries(fields)) {
    if (name === "time" || name === "level" || name === "event") continue;
    entry[name] = value instanceof Error ? errorFields(value) : value;
  }
  return entry;
}

function write(level: EdgeLogLevel, event: string, fields?: EdgeLogFields): void {
  WRITERS[level](JSON.stringify(edgeLogEntry(level, event, fields)));
}

export const log = {
  info: (event: string, fields?: EdgeLogFields): void => write("info", event, fields),
  warn: (event: string, fields?: EdgeLogFields): void => write("warn", event, fields),
  error: (event: string, fields?: EdgeLogFields): void => write("error", event, fields),
};
