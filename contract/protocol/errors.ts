/**
 * The one error the manifest protocol throws. Each side maps it once: the Worker to an HTTP status
 * (edge/http/errors.ts), the compute side to an EdgesnapError code (compute/errors.ts).
 */

export const PROTOCOL_ERROR_CODES = [
  /** The dataset, version, request or run does not exist. */
  "not-found",
  /** A compare-and-swap kept losing to concurrent writers, or a state change is not allowed now. */
  "conflict",
  /** The request names something malformed (a bad id, a version not retained). */
  "invalid",
  /** An object in storage cannot be read as what it should be (a junk manifest). */
  "corrupt",
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class ProtocolError extends Error {
  override name = "ProtocolError";
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
