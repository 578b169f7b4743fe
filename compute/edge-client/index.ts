/**
 * The compute side's one client of the Worker: its admin API (`/admin/v1/...`, for the CLI and the
 * scheduler's request poller and run reporter) and the publish notice a run sends after a new
 * version (`/internal/v1/publish-notice`). One request function for both, so every call carries
 * the bearer token and a timeout the same way. Every admin answer is validated against the shared
 * contract, and every failure becomes one EdgesnapError whose code the CLI turns into a distinct
 * exit code: "edge" (unreachable, timeout, 5xx), "unauthorized" (401), "unknown-dataset" (404 of a
 * dataset), "config" (400, or another 404: a bad argument), "conflict" (409).
 */
import type { z } from "zod";
import {
  ADMIN_API_PREFIX,
  AdminDatasetSchema,
  AdminDatasetsSchema,
  ManifestChangeSchema,
  PendingRequestsSchema,
  type PublishNotice,
  PruneResultSchema,
  RebuildAcceptedSchema,
  RebuildRequestSchema,
  RunRecordSchema,
  RunsPageSchema,
  RunStoredSchema,
  type AdminDataset,
  type ManifestChange,
  type PruneResult,
  type RebuildAccepted,
  type RebuildRequest,
  type RunRecord,
  type RunsPage,
} from "../../contract/index.ts";
import { EdgesnapError, type ErrorCode } from "../errors.ts";

/** Per admin request, by default. */
export const DEFAULT_ADMIN_TIMEOUT_MS = 10_000;
/** The publish notice is best effort (the edge's cron catches up), so it waits less. */
export const DEFAULT_NOTICE_TIMEOUT_MS = 5_000;
export const PUBLISH_NOTICE_PATH = "/internal/v1/publish-notice";

export interface EdgeClientOptions {
  /** Base URL of the Worker, e.g. http://127.0.0.1:8787 (a path prefix is kept). */
  edgeUrl: string;
  /** The EDGESNAP_TOKEN; requests go without Authorization when undefined (and get 401). */
  token?: string;
  /** Per request. Default DEFAULT_ADMIN_TIMEOUT_MS (10 s); DEFAULT_NOTICE_TIMEOUT_MS (5 s) for the notice. */
  timeoutMs?: number;
}

export interface EdgeClient {
  readonly edgeUrl: string;
  /**
   * Tells the edge a new version is current, so it refreshes its KV copies at once. Best effort by
   * design: the edge's cron reconciles KV with R2, so a lost notice only delays freshness.
   * @throws {EdgesnapError} "edge" on a network error, timeout or non-2xx answer
   */
  publishNotice(notice: PublishNotice): Promise<void>;
  listDatasets(): Promise<AdminDataset[]>;
  getDataset(dataset: string): Promise<AdminDataset>;
  requestRebuild(dataset: string, options?: { force?: boolean }): Promise<RebuildAccepted>;
  getRequest(requestId: string): Promise<RebuildRequest>;
  pendingRequests(): Promise<RebuildRequest[]>;
  claimRequest(requestId: string, runId?: string | null): Promise<RebuildRequest>;
  listRuns(dataset: string, options?: { limit?: number; cursor?: string | null }): Promise<RunsPage>;
  getRun(dataset: string, runId: string): Promise<RunRecord>;
  reportRun(record: RunRecord): Promise<void>;
  rollback(dataset: string, version: string, options?: { pin?: boolean }): Promise<ManifestChange>;
  setPinned(dataset: string, pinned: boolean): Promise<ManifestChange>;
  prune(options?: { keep?: number; dryRun?: boolean }): Promise<PruneResult>;
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/** Maps an admin API error answer to the compute side's error code. */
export function errorCodeForStatus(status: number, message: string): ErrorCode {
  if (status === 401) return "unauthorized";
  if (status === 404) return /^unknown dataset /.test(message) ? "unknown-dataset" : "config";
  if (status === 400) return "config";
  if (status === 409) return "conflict";
  return "edge";
}

/** Creates a client. Nothing is sent until a method is called. */
export function createEdgeClient(options: EdgeClientOptions): EdgeClient {
  const base = options.edgeUrl.replace(/\/+$/, "");
  let origin: string;
  try {
    origin = new URL(base).origin;
  } catch (error) {
    throw new EdgesnapError("config", `invalid edge URL "${options.edgeUrl}"`, { cause: error });
  }

  /**
   * One request to the Worker, with the bearer token and the timeout. Resolves with the answer,
   * whatever its status; a network error or a timeout is an "edge" EdgesnapError saying `what`.
   */
  async function send(method: string, path: string, body: unknown, timeoutMs: number, what: string): Promise<{ response: Response; text: string }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      // Concatenated, not resolved: an edge URL with a path prefix keeps it.
      const response = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { response, text: await response.text() };
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new EdgesnapError("edge", `${what} (${cause})`, { cause: error });
    }
  }

  /** An admin API answer that is not a 2xx, as the error whose code the CLI turns into its exit code. */
  function adminFailure(response: Response, text: string): EdgesnapError {
    let message = `${response.status} ${response.statusText}`.trim();
    try {
      message = (JSON.parse(text) as ErrorBody).error?.message ?? message;
    } catch {
      // Not our JSON error shape (a proxy in between?); keep the status line.
    }
    if (response.status === 401) message = `the edge at ${origin} refused the token (set EDGESNAP_TOKEN or --token)`;
    return new EdgesnapError(errorCodeForStatus(response.status, message), message);
  }

  /** An admin API call whose answer is validated against `schema`. */
  async function call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const { response, text } = await send(method, `${ADMIN_API_PREFIX}${path}`, body, options.timeoutMs ?? DEFAULT_ADMIN_TIMEOUT_MS, `cannot reach the edge at ${origin}`);
    if (!response.ok) throw adminFailure(response, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new EdgesnapError("edge", `the edge at ${origin} answered ${method} ${path} with something other than JSON`, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new EdgesnapError("edge", `unexpected answer to ${method} ${path}: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
    }
    return parsed.data;
  }

  const seg = encodeURIComponent;
  return {
    edgeUrl: base,
    publishNotice: async (notice) => {
      const body = { dataset: notice.dataset, version: notice.version };
      const { response } = await send("POST", PUBLISH_NOTICE_PATH, body, options.timeoutMs ?? DEFAULT_NOTICE_TIMEOUT_MS, `publish notice to ${origin} failed`);
      if (!response.ok) throw new EdgesnapError("edge", `publish notice to ${origin} answered ${response.status}`);
    },
    listDatasets: async () => (await call("GET", "/datasets", AdminDatasetsSchema)).datasets,
    getDataset: (dataset) => call("GET", `/datasets/${seg(dataset)}`, AdminDatasetSchema),
    requestRebuild: (dataset, o = {}) => call("POST", `/datasets/${seg(dataset)}/rebuild${o.force ? "?force=1" : ""}`, RebuildAcceptedSchema),
    getRequest: (id) => call("GET", `/requests/${seg(id)}`, RebuildRequestSchema),
    pendingRequests: async () => (await call("GET", "/requests/pending", PendingRequestsSchema)).requests,
    claimRequest: (id, runId = null) => call("POST", `/requests/${seg(id)}/claim`, RebuildRequestSchema, { run_id: runId }),
    listRuns: (dataset, o = {}) => {
      const query = new URLSearchParams();
      if (o.limit !== undefined) query.set("limit", String(o.limit));
      if (o.cursor) query.set("cursor", o.cursor);
      const qs = query.size > 0 ? `?${query}` : "";
      return call("GET", `/datasets/${seg(dataset)}/runs${qs}`, RunsPageSchema);
    },
    getRun: (dataset, runId) => call("GET", `/datasets/${seg(dataset)}/runs/${seg(runId)}`, RunRecordSchema),
    reportRun: async (record) => {
      await call("POST", "/runs", RunStoredSchema, record);
    },
    rollback: (dataset, version, o = {}) => call("POST", `/datasets/${seg(dataset)}/rollback`, ManifestChangeSchema, { version, ...(o.pin === undefined ? {} : { pin: o.pin }) }),
    setPinned: (dataset, pinned) => call("POST", `/datasets/${seg(dataset)}/${pinned ? "pin" : "unpin"}`, ManifestChangeSchema),
    prune: (o = {}) => call("POST", "/prune", PruneResultSchema, { ...(o.keep === undefined ? {} : { keep: o.keep }), dry_run: o.dryRun ?? false }),
  };
}
