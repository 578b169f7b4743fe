/**
 * Publishes fake versions into the test's R2 exactly the way the compute side does (through the
 * shared protocol, test/support/fake-publish.ts). KV is left alone: tests fill it through the
 * notice or the cron, as production does.
 */
import { makeRunId, pageObjectKey, type RunRecord, type VersionIndex } from "../../contract/index.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { publishRecords, type FakePublish, type FakePublishOptions } from "../support/fake-publish.ts";

export type { FakePublish, FakePublishOptions } from "../support/fake-publish.ts";

/** Publishes a fake version into the test's R2 through the Worker's own storage driver. */
export function publishFakeVersion(env: Env, options: FakePublishOptions): Promise<FakePublish> {
  return publishRecords(openR2Store(env), options);
}

/** The storage key of page `n` (from 1) of a published version: pages are named by their hash. */
export function pageKey(version: { info: VersionIndex } | VersionIndex, n = 1): string {
  const info = "info" in version ? version.info : version;
  return pageObjectKey(info.dataset, info.pages[n - 1]!.sha256);
}

/** A finished run record of `dataset` (an ok scheduled run), as the scheduler reports it. */
export function runRecord(dataset: string, overrides: Partial<RunRecord> = {}, startedAt = new Date()): RunRecord {
  return {
    id: makeRunId(startedAt, Math.random().toString(16).slice(2, 10).padEnd(8, "0")),
    dataset,
    trigger: "schedule",
    request_id: null,
    request_ids: [],
    started_at: startedAt.toISOString(),
    finished_at: new Date(startedAt.getTime() + 1500).toISOString(),
    outcome: "ok",
    reason: null,
    duration_ms: 1500,
    peak_rss_bytes: 200 * 1024 * 1024,
    rows: 3,
    bytes: 120,
    version: null,
    attempt: 1,
    ...overrides,
  };
}

let counter = 0;
/** A dataset name no other test uses, so tests never see each other's R2, KV or cache entries. */
export function uniqueDataset(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Airport-like records for keyed tests. */
export function airportRecords(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    iata: `A${i.toString().padStart(3, "0")}`,
    name: `Airport ${i}`,
    flights: 1000 + i,
    mean_delay: Math.round(i * 37) / 10,
  }));
}

export const BASE = "https://edgesnap.test";
