/**
 * The admin API's wire shapes (`/admin/v1/...`), shared by the Worker that serves them and the
 * compute side's admin client (the CLI and the scheduler's poller), so neither can drift.
 */
import { z } from "zod";
import { DATASET_NAME_PATTERN, VERSION_ID_PATTERN } from "./names.ts";
import { AlertSchema } from "./freshness.ts";
import { RUN_OUTCOMES, RunRecordSchema, type RunOutcome } from "./run-record.ts";

/** Path prefix of every admin endpoint. */
export const ADMIN_API_PREFIX = "/admin/v1";

/** How many done rebuild requests the Worker keeps per dataset, newest first. */
export const REQUEST_HISTORY_PER_DATASET = 50;

/** Default and maximum page size of `GET /admin/v1/datasets/:name/runs`. */
export const DEFAULT_RUNS_PAGE = 20;
export const MAX_RUNS_PAGE = 100;

export const REQUEST_STATES = ["pending", "claimed", "done"] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/**
 * An operator's rebuild request. pending (stored) -> claimed (a scheduler took it) -> done (the
 * run that served it finished; `run_id`, `outcome` and `version` say how).
 */
export const RebuildRequestSchema = z.object({
  id: z.string(),
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  state: z.enum(REQUEST_STATES),
  /** Asked to bypass "unchanged" and gates where the run supports it. */
  force: z.boolean(),
  created_at: z.iso.datetime(),
  claimed_at: z.iso.datetime().nullable(),
  completed_at: z.iso.datetime().nullable(),
  run_id: z.string().nullable(),
  outcome: z.enum(RUN_OUTCOMES).nullable(),
  version: z.string().nullable(),
  reason: z.string().nullable(),
});
export type RebuildRequest = z.infer<typeof RebuildRequestSchema>;

/** `POST /admin/v1/datasets/:name/rebuild` answers 202 with this. */
export const RebuildAcceptedSchema = z.object({
  request_id: z.string(),
  /** True when the request was folded into one already pending for the dataset. */
  coalesced: z.boolean(),
  request: RebuildRequestSchema,
});
export type RebuildAccepted = z.infer<typeof RebuildAcceptedSchema>;

/** Objects the answer skipped because they could not be read (each degrades one row, not the answer). */
const Warnings = z.array(z.string()).optional();

export const PendingRequestsSchema = z.object({ requests: z.array(RebuildRequestSchema), warnings: Warnings });
export type PendingRequests = z.infer<typeof PendingRequestsSchema>;

/** `POST /admin/v1/requests/:id/claim`. */
export const ClaimRequestBodySchema = z.object({ run_id: z.string().min(1).nullable().optional() });
export type ClaimRequestBody = z.infer<typeof ClaimRequestBodySchema>;

/**
 * How a request ended: the outcome of the run that served it. The Worker completes a request only
 * from the run record that lists it (`POST /admin/v1/runs`), so a request is done exactly when its
 * run's record is stored.
 */
export interface RequestCompletion {
  outcome: RunOutcome;
  version?: string | null;
  run_id?: string | null;
  reason?: string | null;
}

/** One row of `GET /admin/v1/datasets`. */
export const AdminDatasetSchema = z.object({
  name: z.string(),
  current: z.string().nullable(),
  generated_at: z.string().nullable(),
  /**
   * Seconds since a run last confirmed the content (`checked_at`; the build time for manifests
   * older than that field), null before the first publish. The same age the catalog reports.
   */
  age_seconds: z.number().nullable(),
  /** When a run last confirmed the content (published it, or found it unchanged). */
  checked_at: z.string().nullable().default(null),
  /** The freshness budget in seconds; null when no run recorded one. */
  max_age_seconds: z.number().nullable().default(null),
  /** Whether `age_seconds` is over the budget (contract/freshness.ts). */
  stale: z.boolean().default(false),
  rows: z.number().nullable(),
  bytes: z.number().nullable(),
  /** Pages of the current version. */
  pages: z.number().nullable(),
  pinned: z.boolean(),
  /** Retained versions, newest first. */
  versions: z.array(z.string()),
  last_run: RunRecordSchema.nullable(),
  pending_request: RebuildRequestSchema.nullable(),
  /** The edge's last alert about this dataset (edge/watchdog), null when it never alerted. */
  last_alert: AlertSchema.nullable().default(null),
});
export type AdminDataset = z.infer<typeof AdminDatasetSchema>;

export const AdminDatasetsSchema = z.object({ datasets: z.array(AdminDatasetSchema), warnings: Warnings });
export type AdminDatasets = z.infer<typeof AdminDatasetsSchema>;

/** A page of runs, newest first; `cursor` is null on the last page. */
export const RunsPageSchema = z.object({ runs: z.array(RunRecordSchema), cursor: z.string().nullable(), warnings: Warnings });
export type RunsPage = z.infer<typeof RunsPageSchema>;

/** `POST /admin/v1/datasets/:name/rollback`. Rolling back pins the dataset unless `pin` is false. */
export const RollbackBodySchema = z.object({
  version: z.string().regex(VERSION_ID_PATTERN),
  pin: z.boolean().optional(),
});
export type RollbackBody = z.infer<typeof RollbackBodySchema>;

/** Answer of rollback, pin and unpin: the dataset's state after the change. */
export const ManifestChangeSchema = z.object({
  dataset: z.string(),
  current: z.string().nullable(),
  previous: z.string().nullable(),
  pinned: z.boolean(),
});
export type ManifestChange = z.infer<typeof ManifestChangeSchema>;

/** `POST /admin/v1/prune`. `keep` is required: an empty body must never run a real prune. */
export const PruneBodySchema = z.object({
  keep: z.number().int().min(1).max(1000),
  dry_run: z.boolean().optional(),
});
export type PruneBody = z.infer<typeof PruneBodySchema>;

export const PruneResultSchema = z.object({
  warnings: Warnings,
  dry_run: z.boolean(),
  keep: z.number(),
  datasets: z.array(
    z.object({
      dataset: z.string(),
      /** Versions dropped (or, in a dry run, that would be). */
      versions: z.array(z.string()),
      /** R2 objects deleted (or that would be). */
      objects: z.number(),
    }),
  ),
});
export type PruneResult = z.infer<typeof PruneResultSchema>;

/** Answer of `POST /admin/v1/runs` (the scheduler's run reporter). */
export const RunStoredSchema = z.object({ ok: z.literal(true), key: z.string() });

/**
 * A rebuild request id: the dataset name, a dot, then an id that sorts newest first (like a run
 * id). Carrying the dataset lets `GET /admin/v1/requests/:id` find the record with one read.
 */
export function makeRequestId(dataset: string, createdAt: Date, random: string): string {
  const inverted = (9_999_999_999_999 - createdAt.getTime()).toString().padStart(13, "0");
  return `${dataset}.${inverted}-${random}`;
}

/** The dataset of a request id, or null when the id is malformed. */
export function datasetOfRequestId(requestId: string): string | null {
  const match = /^([a-z0-9][a-z0-9-]{0,63})\.(\d{13}-[0-9a-f]{8})$/.exec(requestId);
  return match?.[1] ?? null;
}
