/**
 * The one error type of the compute side. Everything below the CLI throws EdgesnapError (or lets a
 * cause bubble up wrapped in one); only the CLI entry point catches, prints one line and sets the
 * exit code.
 */
import { ProtocolError, type ProtocolErrorCode } from "../contract/protocol/errors.ts";

export const ERROR_CODES = {
  /** Bad configuration or arguments: the process should not start. */
  config: 2,
  /** A dataset name that does not exist or is malformed. */
  "unknown-dataset": 3,
  /** The dataset's build threw or returned something other than a DataFrame. */
  "build-failed": 4,
  /** A validation gate refused the snapshot; nothing was published. */
  "gate-rejected": 5,
  /** Storage failed (network, permissions, a missing object that must exist). */
  storage: 6,
  /** A compare-and-swap lost to a concurrent writer too many times. */
  conflict: 7,
  /** The edge could not be reached or refused a request. */
  edge: 8,
  /** The edge refused the admin token (missing or wrong EDGESNAP_TOKEN). */
  unauthorized: 9,
  /** Anything else. */
  internal: 1,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class EdgesnapError extends Error {
  override name = "EdgesnapError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The process exit code for this error. */
  get exitCode(): number {
    return ERROR_CODES[this.code];
  }
}

/** The compute side's code for each way the shared manifest protocol refuses something. */
const PROTOCOL_CODES: Record<ProtocolErrorCode, ErrorCode> = {
  conflict: "conflict",
  corrupt: "storage",
  invalid: "config",
  "not-found": "unknown-dataset",
};

/**
 * Wraps anything thrown into an EdgesnapError, keeping EdgesnapErrors as they are and mapping the
 * protocol's refusals to their codes; anything else gets `code`.
 */
export function toEdgesnapError(error: unknown, code: ErrorCode = "internal"): EdgesnapError {
  if (error instanceof EdgesnapError) return error;
  if (error instanceof ProtocolError) return new EdgesnapError(PROTOCOL_CODES[error.code], error.message, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new EdgesnapError(code, message, { cause: error });
}
