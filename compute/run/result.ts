/**
 * What one run reports: the child sends it to the scheduler over IPC, the CLI prints it. Kept free
 * of polars and storage imports so the scheduler can import the type and helpers cheaply.
 */
import { confirmsContent, type RunResultOutcome } from "../../contract/run-record.ts";
import { ERROR_CODES, type ErrorCode, type EdgesnapError } from "../errors.ts";

export interface RunResult {
  /** One of the outcomes a run decides itself (timeouts and memory kills are the supervisor's). */
  outcome: RunResultOutcome;
  /** One line saying why, for every outcome but ok (unchanged says which version it matched). */
  reason: string | null;
  /** Rows and body bytes of the snapshot built, null when the build did not get that far. */
  rows: number | null;
  bytes: number | null;
  /** The version published, or the current version an unchanged build matched. */
  version: string | null;
  /** sha256 of the body built. */
  hash: string | null;
  durationMs: number;
  /** The error code behind a failed or rejected run (its exit code is ERROR_CODES[code]). */
  code: ErrorCode | null;
}

/** The IPC message a run child sends its parent, exactly once, before it exits. */
export interface RunResultMessage {
  type: "result";
  result: RunResult;
}

/** Longest reason kept; the full error goes to the log. */
export const MAX_REASON_LENGTH = 500;

/** Collapses a message to one bounded line (run records and terminals show one line). */
export function oneLine(message: string): string {
  const line = message.replace(/\s*\n\s*/g, " | ").trim();
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 1)}…` : line;
}

/** A failed or rejected result from an error; gate rejections are "rejected", all else "failed". */
export function failedResult(error: EdgesnapError, durationMs: number, partial: Partial<RunResult> = {}): RunResult {
  return {
    rows: null,
    bytes: null,
    version: null,
    hash: null,
    ...partial,
    outcome: error.code === "gate-rejected" ? "rejected" : "failed",
    reason: oneLine(error.message),
    durationMs,
    code: error.code,
  };
}

/** Process exit code: 0 for ok and unchanged, else the error code's (gate 5, build 4, ...). */
export function exitCodeFor(result: RunResult): number {
  if (confirmsContent(result.outcome)) return 0;
  return ERROR_CODES[result.code ?? "internal"];
}

/** The one-line summary printed by `edgesnap run` and the run child. */
export function formatRunResult(dataset: string, result: RunResult): string {
  const seconds = (result.durationMs / 1000).toFixed(2);
  switch (result.outcome) {
    case "ok":
      return `${dataset}: published ${result.version} (${result.rows} rows, ${result.bytes} bytes) in ${seconds}s`;
    case "unchanged":
      return `${dataset}: unchanged, still ${result.version} (${result.rows} rows) in ${seconds}s`;
    default:
      return `${dataset}: ${result.outcome}: ${result.reason}`;
  }
}
