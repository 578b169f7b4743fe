/**
 * Per-dataset leases, so several schedulers can share the work and each dataset's run still happens
 * once per trigger. A lease is one R2 object per dataset, changed only by compare-and-swap
 * (cas.ts): a scheduler holds a dataset's lease while it runs it, renews it while the run lasts and
 * releases it after; another that finds it held skips the trigger. The lease also remembers the
 * latest cron slot a holder claimed (`last_slot`), so a slot is run once however the schedulers'
 * clocks and timers fall: a second scheduler firing the same slot a moment later finds it taken.
 *
 * Fencing: every time the lease changes hands its `token` grows by one. A run carries its lease's
 * token; a scheduler that stalled past its lease (a long pause, a partition) cannot tell that
 * another took over, but its run's token is then older than the lease's, and the publisher refuses
 * it (`assertLeaseHeld` just before the manifest's compare-and-swap, and `isFencedOut` inside it
 * against the token the manifest last recorded), so it never publishes over a newer run's version.
 * https://martin.kleppmann.com/2016/02/08/how-to-do-distributed-locking.html
 *
 * Time is the caller's (`now`): expiry compares the holder's clock with the reader's, so schedulers
 * sharing leases need clocks in sync within a small part of the lease period (NTP does it).
 */
import { z } from "zod";
import { LEASES_PREFIX, leaseObjectKey } from "../lease-keys.ts";
import { listKeys, type ObjectStore } from "../storage.ts";
import { readVersioned, swapObject } from "./cas.ts";
import { ProtocolError } from "./errors.ts";

export const LeaseSchema = z.object({
  dataset: z.string(),
  /** Who holds it now; null once released. */
  holder: z.string().nullable(),
  /** The fencing token: one more each time the lease is granted anew (not on renewal). */
  token: z.number().int().positive(),
  acquired_at: z.iso.datetime(),
  renewed_at: z.iso.datetime(),
  /** After this time a holder that did not renew or release has lost it: another may take over. */
  expires_at: z.iso.datetime(),
  /** The latest cron slot (ISO) any holder claimed for this dataset. */
  last_slot: z.iso.datetime().nullable(),
});
export type Lease = z.infer<typeof LeaseSchema>;

/** A lease this caller holds: what renewing, releasing and fencing need. */
export interface LeaseGrant {
  dataset: string;
  holder: string;
  token: number;
  expiresAt: string;
}

export interface AcquireOptions {
  /** Default: now. */
  now?: Date;
  /** How long the lease holds without a renewal. */
  ttlMs: number;
  /** Claim this cron slot: refused when a holder already claimed it or a later one. */
  claimSlot?: string;
  /** Go on with this slot's run (a retry): refused when a later slot was claimed since. */
  resumeSlot?: string;
  /** Record this slot as run (an operator's run that a scheduled trigger was folded into), never refusing for it. */
  noteSlot?: string;
}

export type AcquireResult =
  | {
      acquired: true;
      grant: LeaseGrant;
      /** Taken from a holder that let it expire without releasing it (it died mid-run). */
      takeover: boolean;
      /** The holder it was taken from, on a takeover. */
      previousHolder: string | null;
    }
  | { acquired: false; reason: "held" | "slot-taken"; lease: Lease };

function parseLease(text: string): Lease {
  return LeaseSchema.parse(JSON.parse(text));
}

function isExpired(lease: Lease, now: Date): boolean {
  return Date.parse(lease.expires_at) <= now.getTime();
}

function laterSlot(a: string | null, b: string | undefined): string | null {
  if (b === undefined) return a;
  return a === null || Date.parse(b) > Date.parse(a) ? b : a;
}

/**
 * The acquisition rule, pure: the next lease, or why not. Held by another and not expired:
 * "held". A claimed slot not after `last_slot`, or a resumed slot before it: "slot-taken". The
 * token stays for the same holder extending a lease it still holds, and grows otherwise.
 */
export function decideAcquire(
  current: Lease | null,
  request: { dataset: string; holder: string; now: Date; ttlMs: number; claimSlot?: string; resumeSlot?: string; noteSlot?: string },
): { lease: Lease; takeover: boolean } | { refused: "held" | "slot-taken" } {
  const now = request.now.toISOString();
  const expires = new Date(request.now.getTime() + request.ttlMs).toISOString();
  const live = current !== null && current.holder !== null && !isExpired(current, request.now);
  if (live && current.holder !== request.holder) return { refused: "held" };
  const last = current?.last_slot ?? null;
  if (request.claimSlot !== undefined && last !== null && Date.parse(request.claimSlot) <= Date.parse(last)) return { refused: "slot-taken" };
  if (request.resumeSlot !== undefined && last !== null && Date.parse(request.resumeSlot) < Date.parse(last)) return { refused: "slot-taken" };
  const extending = live && current.holder === request.holder;
  const lease: Lease = {
    dataset: request.dataset,
    holder: request.holder,
    token: current === null ? 1 : extending ? current.token : current.token + 1,
    acquired_at: extending ? current.acquired_at : now,
    renewed_at: now,
    expires_at: expires,
    last_slot: laterSlot(laterSlot(last, request.claimSlot), request.noteSlot),
  };
  const takeover = current !== null && current.holder !== null && current.holder !== request.holder && !live;
  return { lease, takeover };
}

class Refused extends Error {
  readonly reason: "held" | "slot-taken";
  readonly lease: Lease;

  constructor(reason: "held" | "slot-taken", lease: Lease) {
    super(reason);
    this.reason = reason;
    this.lease = lease;
  }
}

/**
 * Takes a dataset's lease for `holder` (or extends the one it holds), by compare-and-swap.
 * @throws {ProtocolError} "conflict" when the object kept changing concurrently; "corrupt" for an
 *   unreadable lease object
 */
export async function acquireLease(store: ObjectStore, dataset: string, holder: string, options: AcquireOptions): Promise<AcquireResult> {
  const now = options.now ?? new Date();
  let takeover = false;
  let previousHolder: string | null = null;
  try {
    const { after } = await swapObject<Lease>(store, leaseObjectKey(dataset), {
      parse: parseLease,
      what: `the lease of ${dataset}`,
      change(current) {
        const { ttlMs, claimSlot, resumeSlot, noteSlot } = options;
        const decided = decideAcquire(current, { dataset, holder, now, ttlMs, claimSlot, resumeSlot, noteSlot });
        if ("refused" in decided) throw new Refused(decided.refused, current!);
        takeover = decided.takeover;
        previousHolder = decided.takeover ? current!.holder : null;
        return decided.lease;
      },
    });
    return { acquired: true, grant: grantOf(after!), takeover, previousHolder };
  } catch (error) {
    if (error instanceof Refused) return { acquired: false, reason: error.reason, lease: error.lease };
    throw error;
  }
}

function grantOf(lease: Lease): LeaseGrant {
  return { dataset: lease.dataset, holder: lease.holder!, token: lease.token, expiresAt: lease.expires_at };
}

/**
 * Extends a held lease by `ttlMs` from now.
 * @returns the renewed grant, or null when the lease was lost (another holder, a newer token, or no
 *   lease at all): the caller must stop its run, whose publish the fence would refuse anyway
 */
export async function renewLease(store: ObjectStore, grant: LeaseGrant, options: { now?: Date; ttlMs: number }): Promise<LeaseGrant | null> {
  const now = options.now ?? new Date();
  let lost = false;
  const { after } = await swapObject<Lease>(store, leaseObjectKey(grant.dataset), {
    parse: parseLease,
    what: `the lease of ${grant.dataset}`,
    change(current) {
      if (current === null || current.holder !== grant.holder || current.token !== grant.token) {
        lost = true;
        return null;
      }
      return { ...current, renewed_at: now.toISOString(), expires_at: new Date(now.getTime() + options.ttlMs).toISOString() };
    },
  });
  return lost || after === null ? null : grantOf(after);
}

/**
 * Gives a held lease back (its run ended), so another scheduler may take the dataset at once; the
 * token and the last slot stay. A lease already lost is left as it is.
 * @returns whether it was released
 */
export async function releaseLease(store: ObjectStore, grant: LeaseGrant, options: { now?: Date } = {}): Promise<boolean> {
  const now = (options.now ?? new Date()).toISOString();
  const { changed } = await swapObject<Lease>(store, leaseObjectKey(grant.dataset), {
    parse: parseLease,
    what: `the lease of ${grant.dataset}`,
    change: (current) => (current === null || current.holder !== grant.holder || current.token !== grant.token ? null : { ...current, holder: null, renewed_at: now, expires_at: now }),
  });
  return changed;
}

/** A dataset's lease as stored, or null when it never had one. @throws {ProtocolError} "corrupt" */
export async function readLease(store: ObjectStore, dataset: string): Promise<Lease | null> {
  return (await readVersioned(store, leaseObjectKey(dataset), parseLease))?.value ?? null;
}

/** Every lease in the store (unreadable ones skipped), for a scheduler looking for dead holders. */
export async function listLeases(store: ObjectStore): Promise<Lease[]> {
  const leases: Lease[] = [];
  for (const key of await listKeys(store, LEASES_PREFIX)) {
    const lease = await readVersioned(store, key, parseLease).catch(() => null);
    if (lease) leases.push(lease.value);
  }
  return leases;
}

/**
 * The fence a publisher checks just before it commits a dataset's manifest: the run's lease token
 * must still be the lease's (nobody took the lease over since the run began).
 * @throws {ProtocolError} "conflict" when the lease was taken over, or there is none
 */
export async function assertLeaseHeld(store: ObjectStore, dataset: string, token: number): Promise<void> {
  const lease = await readLease(store, dataset);
  if (lease === null) throw new ProtocolError("conflict", `${dataset}: no lease; this run (lease token ${token}) may not publish`);
  if (lease.token !== token) {
    throw new ProtocolError("conflict", `${dataset}: the lease was taken over (token ${lease.token}${lease.holder ? `, held by ${lease.holder}` : ""}); this run's token ${token} is stale and may not publish`);
  }
}

/**
 * The fence inside the manifest's compare-and-swap, pure: a run whose token is older than the one
 * the manifest last recorded (a newer holder published since) must not commit. A manifest without
 * a recorded token, or a run without one (leases off), is not fenced.
 */
export function isFencedOut(recordedToken: number | null | undefined, runToken: number | null | undefined): boolean {
  return recordedToken != null && runToken != null && runToken < recordedToken;
}
