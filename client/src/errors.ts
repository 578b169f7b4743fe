/** The one error the client throws: an error answer of the API, a network failure, or a bad answer. */

/** `code` of a request that got no answer (DNS, refused connection, CORS refusal, abort). */
export const NETWORK_ERROR = "network";
/** `code` of an answer that is not what the API sends (not JSON, a 304 for nothing cached). */
export const INVALID_RESPONSE = "invalid_response";

export class EdgesnapError extends Error {
  override name = "EdgesnapError";
  /** The HTTP status, or 0 when there was no answer. */
  readonly status: number;
  /** The API's error code (`not_found`, `bad_request`, ...), `network` or `invalid_response`. */
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }
}

/** Builds the error of a non-2xx answer from the API's `{"error":{"code","message"}}` body. */
export async function errorFromResponse(response: Response, url: string): Promise<EdgesnapError> {
  let text = "";
  try {
    text = await response.text();
  } catch {
    // The status alone still says what went wrong.
  }
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = body.error ?? {};
    if (typeof code === "string" && typeof message === "string") return new EdgesnapError(response.status, code, message);
  } catch {
    // Not the API's error shape (a proxy in between?): fall through to the status line.
  }
  return new EdgesnapError(response.status, `http_${response.status}`, `${response.status} ${response.statusText} from ${url}`.replace(/\s+/g, " "));
}
