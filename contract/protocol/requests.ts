/**
 * Operators' rebuild requests, stored in R2 (strongly consistent, conditional writes) and never in
 * KV, whose reads may be ~60 s stale: a request the scheduler cannot see for a minute, or a
 * coalescing check against a stale copy, would be a correctness bug.
 * https://developers.cloudflare.com/r2/reference/consistency/
 *
 * Layout: `requests/<dataset>/<id>.json` holds each request (its state moves pending -> claimed ->
 * done by compare-and-swap on the record); `requests/<dataset>.json` points at the dataset's
 * latest request and is itself swapped by compare-and-swap, so two operators asking at once end up
 * with one pending request. The newest REQUEST_HISTORY_PER_DATASET records are kept.
 */
import {
  datasetOfRequestId,
  makeRequestId,
  REQUEST_HISTORY_PER_DATASET,
  RebuildRequestSchema,
  type RebuildRequest,
  type RequestCompletion,
  type RequestState,
} from "../admin.ts";
import { requestObjectKey, requestPointerKey, REQUESTS_PREFIX } from "../keys.ts";
import { withRetry } from "../retry.ts";
import { listAll, listKeys, toHex, type ObjectStore } from "../storage.ts";
import { createObject, readVersioned, swapObject, SWAP_ATTEMPTS, type Versioned } from "./cas.ts";
import { ProtocolError } from "./errors.ts";

/**
 * How long a claim holds. A scheduler that claims a request and then dies (OOM-killed, node lost)
 * never completes it; after the lease the request is offered again, so a crash cannot swallow an
 * operator's rebuild. Longer than any sensible run, retries included.
 */
export const CLAIM_LEASE_MS = 30 * 60 * 1000;

function parseRequest(text: string): RebuildRequest {
  return RebuildRequestSchema.parse(JSON.parse(text));
}

function parsePointer(text: string): { id: string } {
  const value = JSON.parse(text) as { id?: unknown };
  if (typeof value.id !== "string" || datasetOfRequestId(value.id) === null) throw new Error("not a request pointer");
  return { id: value.id };
}

/** The storage key of a request, or null for an id no request can have (it never reaches storage). */
function requestKey(requestId: string): string | null {
  const dataset = datasetOfRequestId(requestId);
  return dataset === null ? null : requestObjectKey(dataset, requestId);
}

/**
 * Reads one request record with its etag.
 * @returns null when there is none with that id (a malformed id included)
 * @throws {ProtocolError} "corrupt" for an unreadable record
 */
export async function readRequest(store: ObjectStore, requestId: string): Promise<Versioned<RebuildRequest> | null> {
  const key = requestKey(requestId);
  return key === null ? null : readVersioned(store, key, parseRequest);
}

/** The dataset's latest request (whatever its state), or null. */
export async function latestRequest(store: ObjectStore, dataset: string): Promise<RebuildRequest | null> {
  const pointer = await readVersioned(store, requestPointerKey(dataset), parsePointer);
  if (pointer === null) return null;
  return (await readRequest(store, pointer.value.id))?.value ?? null;
}

class LostRace extends Error {}

/**
 * Stores a rebuild request for `dataset`, or returns the one already pending (coalescing). A force
 * request folded into a pending one upgrades it to force.
 * @throws {ProtocolError} "conflict" when the pointer kept changing under us
 */
export async function createRebuildRequest(
  store: ObjectStore,
  dataset: string,
  options: { force: boolean; now?: Date },
): Promise<{ request: RebuildRequest; coalesced: boolean }> {
  try {
    return await withRetry(() => tryCreate(store, dataset, options), {
      attempts: SWAP_ATTEMPTS,
      baseDelayMs: 20,
      maxDelayMs: 500,
      shouldRetry: (error) => error instanceof LostRace,
    });
  } catch (error) {
    if (!(error instanceof LostRace)) throw error;
    throw new ProtocolError("conflict", `rebuild requests for ${dataset} kept changing concurrently; try again`);
  }
}

async function tryCreate(store: ObjectStore, dataset: string, options: { force: boolean; now?: Date }): Promise<{ request: RebuildRequest; coalesced: boolean }> {
  const pointer = await readVersioned(store, requestPointerKey(dataset), parsePointer).catch((error: unknown) => {
    // A junk pointer is replaced below rather than blocking every future rebuild of the dataset.
    if (error instanceof ProtocolError && error.code === "corrupt") return null;
    throw error;
  });
  if (pointer !== null) {
    const existing = await readRequest(store, pointer.value.id).catch(() => null);
    if (existing?.value.state === "pending") {
      if (!options.force || existing.value.force) return { request: existing.value, coalesced: true };
      const upgraded = { ...existing.value, force: true };
      const written = await store.put(requestObjectKey(dataset, upgraded.id), JSON.stringify(upgraded), { contentType: "application/json", ifMatch: existing.etag });
      if (written === null) throw new LostRace();
      return { request: upgraded, coalesced: true };
    }
  }
  const now = options.now ?? new Date();
  const request: RebuildRequest = {
    id: makeRequestId(dataset, now, toHex(crypto.getRandomValues(new Uint8Array(4)))),
    dataset,
    state: "pending",
    force: options.force,
    created_at: now.toISOString(),
    claimed_at: null,
    completed_at: null,
    run_id: null,
    outcome: null,
    version: null,
    reason: null,
  };
  // The record first, then the pointer: whoever reads the pointer finds the record.
  if (!(await createObject(store, requestObjectKey(dataset, request.id), request))) throw new LostRace();
  const swapped = await store.put(requestPointerKey(dataset), JSON.stringify({ id: request.id }), {
    contentType: "application/json",
    ...(pointer === null ? { ifNoneMatch: "*" as const } : { ifMatch: pointer.etag }),
  });
  if (swapped === null) {
    // Another request won the pointer: ours was never visible, drop it and look again.
    await store.delete(requestObjectKey(dataset, request.id));
    throw new LostRace();
  }
  await trimRequestHistory(store, dataset).catch((error: unknown) =>
    console.warn(JSON.stringify({ level: "warn", msg: "could not trim request history", dataset, error: String(error) })),
  );
  return { request, coalesced: false };
}

/** Deletes request records beyond the newest REQUEST_HISTORY_PER_DATASET (listings are newest first). */
export async function trimRequestHistory(store: ObjectStore, dataset: string, keep = REQUEST_HISTORY_PER_DATASET): Promise<number> {
  const keys = await listKeys(store, `${REQUESTS_PREFIX}${dataset}/`);
  const old = keys.slice(keep);
  if (old.length > 0) await store.delete(old);
  return old.length;
}

/**
 * Moves a request to a new state by compare-and-swap on its record.
 * @throws {ProtocolError} "not-found" unknown request; "conflict" when its state does not allow it
 */
async function transitionRequest(
  store: ObjectStore,
  requestId: string,
  from: readonly RequestState[],
  change: (request: RebuildRequest) => RebuildRequest,
  allowed: (request: RebuildRequest) => boolean = () => true,
): Promise<RebuildRequest> {
  const key = requestKey(requestId);
  if (key === null) throw new ProtocolError("not-found", `unknown request ${JSON.stringify(requestId.slice(0, 100))}`);
  const swap = await swapObject(store, key, {
    parse: parseRequest,
    what: `request ${requestId}`,
    change(request) {
      if (request === null) throw new ProtocolError("not-found", `unknown request ${requestId}`);
      if (!from.includes(request.state) || !allowed(request)) {
        throw new ProtocolError("conflict", `request ${requestId} is ${request.state}, not ${from.join(" or ")}`);
      }
      return change(request);
    },
  });
  return swap.after!;
}

/** True for a request waiting for a scheduler: pending, or claimed longer ago than the lease. */
export function isClaimable(request: RebuildRequest, now = new Date()): boolean {
  if (request.state === "pending") return true;
  return request.state === "claimed" && request.claimed_at !== null && now.getTime() - Date.parse(request.claimed_at) > CLAIM_LEASE_MS;
}

/** Marks a request as taken by a scheduler. A second claim within the lease is a "conflict". */
export function claimRequest(store: ObjectStore, requestId: string, runId: string | null, now = new Date()): Promise<RebuildRequest> {
  return transitionRequest(
    store,
    requestId,
    ["pending", "claimed"],
    (r) => ({ ...r, state: "claimed", claimed_at: now.toISOString(), run_id: runId ?? r.run_id }),
    (r) => isClaimable(r, now),
  );
}

/**
 * Records the outcome of the run that served a request. Repeatable: a retry of a failed run
 * completes the request again with its own outcome.
 */
export function completeRequest(store: ObjectStore, requestId: string, body: RequestCompletion, now = new Date()): Promise<RebuildRequest> {
  return transitionRequest(store, requestId, ["pending", "claimed", "done"], (r) => ({
    ...r,
    state: "done",
    claimed_at: r.claimed_at ?? now.toISOString(),
    completed_at: now.toISOString(),
    run_id: body.run_id ?? r.run_id,
    outcome: body.outcome,
    version: body.version ?? null,
    reason: body.reason ?? null,
  }));
}

/**
 * Every dataset's claimable request (pending, or its claim expired), oldest first: what the
 * scheduler polls. An unreadable pointer or record is skipped and named in `warnings`.
 */
export async function listPendingRequests(store: ObjectStore, now = new Date()): Promise<{ requests: RebuildRequest[]; warnings: string[] }> {
  const datasets: string[] = [];
  for await (const page of listAll(store, REQUESTS_PREFIX, { delimiter: "/" })) {
    for (const object of page.objects) {
      if (object.key.endsWith(".json")) datasets.push(object.key.slice(REQUESTS_PREFIX.length, -".json".length));
    }
  }
  const warnings: string[] = [];
  const latest = await Promise.all(
    datasets.map((dataset) =>
      latestRequest(store, dataset).catch((error: unknown) => {
        warnings.push(`rebuild request of ${dataset} is unreadable: ${(error as Error).message}`);
        return null;
      }),
    ),
  );
  const requests = latest
    .filter((r): r is RebuildRequest => r !== null && isClaimable(r, now))
    .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  return { requests, warnings };
}
