/**
 * The publish notice a run sends after a manifest write, as one call for the run
 * (compute/run/run.ts): the client (./index.ts) makes the request. Best effort by design: the
 * edge's cron reconciles KV with R2, so a lost notice only delays freshness, and the caller logs a
 * failure as a warning.
 */
import type { PublishNotice } from "../../contract/index.ts";
import { createEdgeClient, type EdgeClientOptions } from "./index.ts";

export { DEFAULT_NOTICE_TIMEOUT_MS, PUBLISH_NOTICE_PATH } from "./index.ts";

export type PublishNoticeOptions = EdgeClientOptions;

/**
 * POSTs `{dataset, version}` to `${edgeUrl}/internal/v1/publish-notice`.
 * @throws {EdgesnapError} "edge" on a network error, timeout or non-2xx answer
 */
export async function sendPublishNotice(notice: PublishNotice, options: PublishNoticeOptions): Promise<void> {
  await createEdgeClient(options).publishNotice(notice);
}
