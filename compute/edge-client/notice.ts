/**
 * The publish notice: after a manifest write, tell the edge which version is current so it refreshes
 * its KV copies at once. Best effort by design: the edge's cron reconciles KV with R2, so a lost
 * notice only delays freshness, and the caller logs a failure as a warning.
 */
import type { PublishNotice } from "../../contract/index.ts";
import { EdgesnapError } from "../errors.ts";

export const PUBLISH_NOTICE_PATH = "/internal/v1/publish-notice";
export const DEFAULT_NOTICE_TIMEOUT_MS = 5_000;

export interface PublishNoticeOptions {
  /** Base URL of the Worker, e.g. http://127.0.0.1:8787. */
  edgeUrl: string;
  /** Bearer token; omitted from the request when undefined. */
  token?: string;
  /** Default DEFAULT_NOTICE_TIMEOUT_MS (5 s). */
  timeoutMs?: number;
}

/**
 * POSTs `{dataset, version}` to `${edgeUrl}/internal/v1/publish-notice`.
 * @throws {EdgesnapError} "edge" on a network error, timeout or non-2xx answer
 */
export async function sendPublishNotice(notice: PublishNotice, options: PublishNoticeOptions): Promise<void> {
  // Concatenated, not resolved: an edge URL with a path prefix keeps it.
  const url = new URL(`${options.edgeUrl.replace(/\/+$/, "")}${PUBLISH_NOTICE_PATH}`);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ dataset: notice.dataset, version: notice.version }),
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_NOTICE_TIMEOUT_MS),
    });
  } catch (error) {
    throw new EdgesnapError("edge", `publish notice to ${url.origin} failed: ${(error as Error).message}`, { cause: error });
  }
  await response.body?.cancel();
  if (!response.ok) {
    throw new EdgesnapError("edge", `publish notice to ${url.origin} answered ${response.status}`);
  }
}
