/**
 * Rebuild requests, stored in R2 (strongly consistent, conditional writes) and never in KV, whose
 * reads may be ~60 s stale: a request the scheduler cannot see for a minute, or a coalescing check
 * against a stale copy, would be a correctness bug. https://developers.cloudflare.com/r2/reference/consistency/
 *
 * Layout: `requests/<dataset>/<id>.json` holds each request (its state moves pending -> claimed ->
 * done by compare-and-swap on the record's etag); `requests/<dataset>.json` points at the dataset's
 * latest request and is itself swapped by compare-and-swap, so two operators asking at once end up
 * with one pending request. The newest REQUEST_HISTORY_PER_DATASET records are kept.
 */
import { HTTPException } from "hono/http-exception";
import {
  datasetOfRequestId,
  makeRequestId,
  REQUEST_HISTORY_PER_DATASET,
  requestObjectKey,
  requestPointerKey,
  REQUESTS_PREFIX,
  RebuildRequestSchema,
  type CompleteRequestBody,
  type RebuildRequest,
  type RequestState,
} from "../../contract/index.ts";

/** How often a lost compare-and-swap is retried before answering 409. */
const CAS_ATTEMPTS = 5;

const JSON_METADATA = { httpMetadata: { contentType: "application/json" } };

interface Stored<T> {
  value: T;
  etag: string;
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads one request record with its etag, or null when there is none with that id. */
export async function readRequest(env: Env, requestId: string): Promise<Stored<RebuildRequest> | null> {
  const dataset = datasetOfRequestId(requestId);
  if (dataset === null) return null;
  const object = await env.SNAPSHOTS.get(requestObjectKey(dataset, requestId));
  if (object === null) return null;
  return { value: RebuildRequestSchema.parse(JSON.parse(await object.text())), etag: object.etag };
}

async function readPointer(env: Env, dataset: string): Promise<Stored<{ id: string }> | null> {
  const object = await env.SNAPSHOTS.get(requestPointerKey(dataset));
  if (object === null) return null;
  const value = JSON.parse(await object.text()) as { id: string };
  return { value, etag: object.etag };
}

/** The dataset's latest request (whatever its state), or null. */
export async function latestRequest(env: Env, dataset: string): Promise<RebuildRequest | null> {
  const pointer = await readPointer(env, dataset);
  if (pointer === null) return null;
  return (await readRequest(env, pointer.value.id))?.value ?? null;
}

/**
 * Stores a rebuild request for `dataset`, or returns the one already pending (coalescing). A force
 * request folded into a pending one upgrades it to force.
 * @throws {HTTPException} 409 when the pointer kept changing under us.
 */
export async function createRebuildRequest(
  env: Env,
  dataset: string,
  options: { force: boolean; now?: Date },
): Promise<{ request: RebuildRequest; coalesced: boolean }> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const pointer = await readPointer(env, dataset);
    if (pointer !== null) {
      const existing = await readRequest(env, pointer.value.id);
      if (existing?.value.state === "pending") {
        if (!options.force || existing.value.force) return { request: existing.value, coalesced: true };
        const upgraded = { ...existing.value, force: true };
        const written = await env.SNAPSHOTS.put(requestObjectKey(dataset, upgraded.id), JSON.stringify(upgraded), {
          ...JSON_METADATA,
          onlyIf: { etagMatches: existing.etag },
        });
        if (written !== null) return { request: upgraded, coalesced: true };
        continue;
      }
    }
    const now = options.now ?? new Date();
    const request: RebuildRequest = {
      id: makeRequestId(dataset, now, randomHex(4)),
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
    await env.SNAPSHOTS.put(requestObjectKey(dataset, request.id), JSON.stringify(request), {
      ...JSON_METADATA,
      onlyIf: { etagDoesNotMatch: "*" },
    });
    const swapped = await env.SNAPSHOTS.put(requestPointerKey(dataset), JSON.stringify({ id: request.id }), {
      ...JSON_METADATA,
      onlyIf: pointer === null ? { etagDoesNotMatch: "*" } : { etagMatches: pointer.etag },
    });
    if (swapped !== null) {
      await trimRequestHistory(env, dataset).catch((error: unknown) =>
        console.warn(JSON.stringify({ level: "warn", msg: "could not trim request history", dataset, error: String(error) })),
      );
      return { request, coalesced: false };
    }
    // Another request won the pointer: ours was never visible, drop it and look again.
    await env.SNAPSHOTS.delete(requestObjectKey(dataset, request.id));
  }
  throw new HTTPException(409, { message: `rebuild requests for ${dataset} kept changing concurrently; try again` });
}

/** Deletes request records beyond the newest REQUEST_HISTORY_PER_DATASET (listings are newest first). */
async function trimRequestHistory(env: Env, dataset: string): Promise<void> {
  const listed = await env.SNAPSHOTS.list({ prefix: `${REQUESTS_PREFIX}${dataset}/`, limit: 1000 });
  const old = listed.objects.slice(REQUEST_HISTORY_PER_DATASET).map((o) => o.key);
  if (old.length > 0) await env.SNAPSHOTS.delete(old);
}

/**
 * Moves a request to a new state by compare-and-swap on its record.
 * @throws {HTTPException} 404 unknown request; 409 when its state is not one of `from`.
 */
export async function transitionRequest(
  env: Env,
  requestId: string,
  from: readonly RequestState[],
  change: (request: RebuildRequest) => RebuildRequest,
  allowed: (request: RebuildRequest) => boolean = () => true,
): Promise<RebuildRequest> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const stored = await readRequest(env, requestId);
    if (stored === null) throw new HTTPException(404, { message: `unknown request ${requestId}` });
    if (!from.includes(stored.value.state) || !allowed(stored.value)) {
      throw new HTTPException(409, { message: `request ${requestId} is ${stored.value.state}, not ${from.join(" or ")}` });
    }
    const next = change(stored.value);
    const written = await env.SNAPSHOTS.put(requestObjectKey(next.dataset, next.id), JSON.stringify(next), {
      ...JSON_METADATA,
      onlyIf: { etagMatches: stored.etag },
    });
    if (written !== null) return next;
  }
  throw new HTTPException(409, { message: `request ${requestId} kept changing concurrently; try again` });
}

/**
 * How long a claim holds. A scheduler that claims a request and then dies (OOM-killed, node lost)
 * never completes it; after the lease the request is offered again, so a crash cannot swallow an
 * operator's rebuild. Longer than any sensible run, retries included.
 */
export const CLAIM_LEASE_MS = 30 * 60 * 1000;

/** True for a request waiting for a scheduler: pending, or claimed longer ago than the lease. */
export function isClaimable(request: RebuildRequest, now = new Date()): boolean {
  if (request.state === "pending") return true;
  return request.state === "claimed" && request.claimed_at !== null && now.getTime() - Date.parse(request.claimed_at) > CLAIM_LEASE_MS;
}

/** Marks a request as taken by a scheduler. A second claim within the lease answers 409. */
export function claimRequest(env: Env, requestId: string, runId: string | null, now = new Date()): Promise<RebuildRequest> {
  return transitionRequest(
    env,
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
export function completeRequest(env: Env, requestId: string, body: CompleteRequestBody, now = new Date()): Promise<RebuildRequest> {
  return transitionRequest(env, requestId, ["pending", "claimed", "done"], (r) => ({
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

/** Every dataset's claimable request (pending, or its claim expired), oldest first: what the scheduler polls. */
export async function listPendingRequests(env: Env, now = new Date()): Promise<RebuildRequest[]> {
  const pointers: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.SNAPSHOTS.list({ prefix: REQUESTS_PREFIX, delimiter: "/", cursor });
    for (const object of page.objects) {
      if (object.key.endsWith(".json")) pointers.push(object.key.slice(REQUESTS_PREFIX.length, -".json".length));
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  const latest = await Promise.all(pointers.map((dataset) => latestRequest(env, dataset)));
  return latest
    .filter((r): r is RebuildRequest => r !== null && isClaimable(r, now))
    .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
}
