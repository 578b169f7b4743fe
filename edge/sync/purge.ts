/**
 * Purging Workers Cache by tag within Cloudflare's purge rate limits, which are per account and, on
 * the Free plan, a token bucket of 25 requests refilled at 5 a minute, with at most 100 tags per
 * request: https://developers.cloudflare.com/cache/how-to/purge-cache/ (Workers Cache purges
 * count against the same limits). Every isolate shares one bucket, so its state is an R2 object
 * changed by compare-and-swap: a purge first takes tokens from the bucket and the tags it can send
 * out of the queue in one swap, then calls `ctx.cache.purge`. Tags that find the bucket empty, or
 * whose call fails, wait in the queue (deduplicated, so a burst of publishes of one dataset costs
 * one purge) until the next publish or the cron's next minute sends them.
 *
 * A deferred or failed purge never breaks the staleness bound: current URLs are cached for at most
 * FRESHNESS_SECONDS whatever happens to the purge, which only makes them fresh sooner.
 */
import { z } from "zod";
import { swapObject } from "../../contract/protocol/cas.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { log } from "../log.ts";

/** R2: the purge bucket and queue, shared by every isolate of the Worker. */
export const PURGE_STATE_KEY = "edge/purge-state.json";

/** The Free plan's purge limits, which this Worker always keeps to (any plan allows at least these). */
export const PURGE_LIMITS = {
  /** Requests the bucket holds. */
  bucket: 25,
  /** Requests added to the bucket per minute. */
  refillPerMinute: 5,
  /** Tags in one purge request. */
  tagsPerRequest: 100,
} as const;

/** Tags queued beyond this are dropped, oldest first (their entries expire by themselves). */
export const MAX_QUEUED_TAGS = PURGE_LIMITS.bucket * PURGE_LIMITS.tagsPerRequest * 4;

export const PurgeStateSchema = z.object({
  /** Requests left in the bucket at `refilled_at` (fractional: refill is continuous). */
  tokens: z.number().min(0),
  refilled_at: z.iso.datetime(),
  /** Tags waiting for a token, oldest first, each once. */
  queued: z.array(z.string()),
});
export type PurgeState = z.infer<typeof PurgeStateSchema>;

/** A full bucket and an empty queue. */
export function initialPurgeState(now: Date): PurgeState {
  return { tokens: PURGE_LIMITS.bucket, refilled_at: now.toISOString(), queued: [] };
}

/**
 * Adds `tags` to the queue and takes as many requests' worth of tags out of it as the bucket
 * allows, 100 tags a request. Pure.
 * @returns the next state and the batches to send now (each one request)
 */
export function planPurge(previous: PurgeState, tags: readonly string[], now: Date): { state: PurgeState; batches: string[][]; dropped: number } {
  const elapsedMinutes = Math.max(0, now.getTime() - Date.parse(previous.refilled_at)) / 60_000;
  let tokens = Math.min(PURGE_LIMITS.bucket, previous.tokens + elapsedMinutes * PURGE_LIMITS.refillPerMinute);
  const queued = [...new Set([...previous.queued, ...tags])];
  const dropped = Math.max(0, queued.length - MAX_QUEUED_TAGS);
  queued.splice(0, dropped);
  const batches: string[][] = [];
  while (queued.length > 0 && tokens >= 1) {
    batches.push(queued.splice(0, PURGE_LIMITS.tagsPerRequest));
    tokens -= 1;
  }
  return { state: { tokens, refilled_at: now.toISOString(), queued }, batches, dropped };
}

/**
 * Reads the stored state. A junk object (nothing in this Worker writes one) would otherwise stop
 * every purge until someone deleted it, so it reads as a bucket last refilled long ago and is
 * replaced by the next swap.
 */
function parsePurgeState(text: string): PurgeState {
  try {
    return PurgeStateSchema.parse(JSON.parse(text));
  } catch {
    log.error("unreadable purge state; starting a new one", { key: PURGE_STATE_KEY });
    return { tokens: 0, refilled_at: new Date(0).toISOString(), queued: [] };
  }
}

/** What one purge did. */
export interface PurgeReport {
  /** Tags purged now. */
  sent: string[];
  /** Tags left waiting for a token or for a retry after a failed call. */
  queued: number;
  /** Calls that failed (their tags are queued again). */
  failures: string[];
}

/** What purging needs of the execution context: Workers Cache's purge. */
export interface TagPurger {
  purge(options: { tags: string[] }): Promise<{ success: boolean; errors: { code: number; message: string }[] }>;
}

/**
 * Purges `tags` (possibly none: then only what is queued) through the shared rate limit, and queues
 * what cannot go now. Never throws for a failed purge call: its tags are queued for the next try.
 * @throws {ProtocolError} "conflict" when the shared state keeps changing
 */
export async function purgeTags(store: ObjectStore, cache: TagPurger, tags: readonly string[], now = new Date()): Promise<PurgeReport> {
  let batches: string[][] = [];
  let dropped = 0;
  const swap = await swapObject<PurgeState>(store, PURGE_STATE_KEY, {
    parse: parsePurgeState,
    what: "the purge state",
    change(current) {
      const previous = current ?? initialPurgeState(now);
      if (tags.length === 0 && previous.queued.length === 0) return null;
      const plan = planPurge(previous, tags, now);
      batches = plan.batches;
      dropped = plan.dropped;
      return plan.state;
    },
  });
  if (dropped > 0) log.error("purge queue full; oldest tags dropped", { dropped });
  const failed: string[] = [];
  const failures: string[] = [];
  const sent: string[] = [];
  for (const batch of batches) {
    const problem = await purgeOnce(cache, batch);
    if (problem === null) sent.push(...batch);
    else {
      failed.push(...batch);
      failures.push(problem);
    }
  }
  let queued = swap.after?.queued.length ?? 0;
  if (failed.length > 0) {
    log.warn("purge failed; tags queued for the next try", { tags: failed.length, errors: failures });
    const requeued = await swapObject<PurgeState>(store, PURGE_STATE_KEY, {
      parse: parsePurgeState,
      what: "the purge state",
      change: (current) => {
        const state = current ?? initialPurgeState(now);
        return { ...state, queued: [...new Set([...failed, ...state.queued])].slice(0, MAX_QUEUED_TAGS) };
      },
    });
    queued = requeued.after?.queued.length ?? queued;
  }
  return { sent, queued, failures };
}

/** One purge call. @returns null on success, else why it failed */
async function purgeOnce(cache: TagPurger, tags: string[]): Promise<string | null> {
  try {
    const result = await cache.purge({ tags });
    if (result.success) return null;
    return result.errors.map((e) => `${e.code}: ${e.message}`).join("; ") || "purge answered success: false";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
