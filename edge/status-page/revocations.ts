/**
 * Ended status-page sessions, kept in R2 because the Worker is stateless: one small object,
 * changed only by compare-and-swap, read once per signed-in request (R2 is strongly consistent, so a
 * sign-out holds at once in every isolate and location).
 *
 * Signing out adds the session's id until the time it would have expired anyway; "sign out
 * everywhere" moves `not_before` to now, which ends every session issued until then. Entries past
 * their expiry are dropped at each change, and past MAX_REVOKED the oldest are folded into
 * `not_before` (which ends them and perhaps a few more, never fewer), so the object stays small.
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#conditional-operations
 */
import { z } from "zod";
import { readVersioned, swapObject } from "../../contract/protocol/cas.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { log } from "../log.ts";

/** R2: the ended sessions (edge-only, beside the watchdog's state). */
export const REVOCATIONS_KEY = "edge/admin-sessions.json";

/** Revoked session ids kept at most; older ones are folded into `not_before`. */
export const MAX_REVOKED = 500;

const RevokedSessionSchema = z.object({
  /** The session id: `<issued at, epoch ms>.<random hex>`. */
  id: z.string(),
  /** When the session would have expired: the entry is useless after it. */
  until: z.iso.datetime(),
});

export const RevocationsSchema = z.object({
  /** Every session issued at or before this time has ended (sign out everywhere). */
  not_before: z.iso.datetime().nullable().default(null),
  revoked: z.array(RevokedSessionSchema).default([]),
});
export type Revocations = z.infer<typeof RevocationsSchema>;

/** The issue time (epoch ms) written at the start of a session id. */
export function issuedAtOf(sessionId: string): number {
  return Number(sessionId.slice(0, sessionId.indexOf(".")));
}

/** Whether the session `sessionId` has ended by sign-out. */
export function isRevoked(revocations: Revocations, sessionId: string): boolean {
  if (revocations.not_before !== null && issuedAtOf(sessionId) <= Date.parse(revocations.not_before)) return true;
  return revocations.revoked.some((entry) => entry.id === sessionId);
}

/** `revocations` without entries past their expiry, and at most `max`, the oldest folded into `not_before`. */
export function compacted(revocations: Revocations, now: Date, max = MAX_REVOKED): Revocations {
  const live = revocations.revoked.filter((entry) => Date.parse(entry.until) > now.getTime());
  const byIssue = [...live].sort((a, b) => issuedAtOf(a.id) - issuedAtOf(b.id));
  const folded = byIssue.slice(0, Math.max(0, byIssue.length - max));
  const latestFolded = Math.max(...folded.map((entry) => issuedAtOf(entry.id)), revocations.not_before === null ? -Infinity : Date.parse(revocations.not_before));
  const notBefore = Number.isFinite(latestFolded) ? new Date(latestFolded).toISOString() : null;
  const kept = byIssue.slice(folded.length).filter((entry) => notBefore === null || issuedAtOf(entry.id) > Date.parse(notBefore));
  return { not_before: notBefore, revoked: kept };
}

/** No session ended yet. */
const NONE: Revocations = { not_before: null, revoked: [] };

/** What the object holds: the revocations, or junk (which cannot come from this code: R2 writes are whole). */
type Stored = Revocations | "junk";

function parseStored(text: string): Stored {
  try {
    return RevocationsSchema.parse(JSON.parse(text));
  } catch {
    return "junk";
  }
}

/** What a junk object is replaced by: every session issued so far has ended (failing closed). */
function endEverySession(now: Date): Revocations {
  return { not_before: now.toISOString(), revoked: [] };
}

/**
 * The ended sessions as stored (none when the object does not exist yet). A junk object is
 * replaced, once, by "every session so far has ended": failing closed, and a new sign-in works.
 */
export async function readRevocations(store: ObjectStore, now = new Date()): Promise<Revocations> {
  const read = await readVersioned(store, REVOCATIONS_KEY, parseStored);
  if (read === null) return NONE;
  if (read.value !== "junk") return read.value;
  log.error("unreadable session revocations; every session so far is ended", { key: REVOCATIONS_KEY });
  const healed = await swapObject<Stored>(store, REVOCATIONS_KEY, {
    parse: parseStored,
    what: "the session revocations",
    initial: read,
    // Another request healed it first: keep what it wrote.
    change: (current) => (current === "junk" ? endEverySession(now) : null),
  });
  return healed.after !== null && healed.after !== "junk" ? healed.after : endEverySession(now);
}

/** Changes the revocations by compare-and-swap; a junk object counts as "every session so far ended". */
async function change(store: ObjectStore, next: (current: Revocations) => Revocations, now: Date): Promise<void> {
  await swapObject<Stored>(store, REVOCATIONS_KEY, {
    parse: parseStored,
    what: "the session revocations",
    change: (current) => next(current === null ? NONE : current === "junk" ? endEverySession(now) : current),
  });
}

/** Ends one session (sign out): kept until `expiresAt`, when it would have ended anyway. */
export async function revokeSession(store: ObjectStore, sessionId: string, expiresAt: Date, now = new Date()): Promise<void> {
  await change(store, (current) => compacted({ ...current, revoked: [...current.revoked, { id: sessionId, until: expiresAt.toISOString() }] }, now), now);
}

/** Ends every session issued until `now` (sign out everywhere). */
export async function revokeAllSessions(store: ObjectStore, now = new Date()): Promise<void> {
  await change(store, (current) => compacted({ ...current, not_before: now.toISOString() }, now), now);
}
