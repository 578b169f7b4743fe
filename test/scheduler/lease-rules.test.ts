/**
 * The lease rules, pure: who gets a lease and with which fencing token, which slot a run claims,
 * resumes or notes, the fence a publisher applies, and the timings that make a dead scheduler's
 * datasets taken over within one lease period.
 */
import { describe, expect, it } from "vitest";
import { decideAcquire, isFencedOut, type Lease } from "../../contract/protocol/leases.ts";
import { leaseModeOf, leaseTimings } from "../../compute/scheduler/leases.ts";
import { latestSlot } from "../../compute/scheduler/index.ts";

const T0 = Date.parse("2026-12-01T12:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000);
const lease = (overrides: Partial<Lease> = {}): Lease => ({
  dataset: "d",
  holder: "a",
  token: 4,
  acquired_at: at(0).toISOString(),
  renewed_at: at(0).toISOString(),
  expires_at: at(25).toISOString(),
  last_slot: null,
  ...overrides,
});
const ask = (holder: string, s: number, extra: { claimSlot?: string; resumeSlot?: string; noteSlot?: string } = {}) => ({ dataset: "d", holder, now: at(s), ttlMs: 25_000, ...extra });

describe("granting a lease", () => {
  it("keeps the token for the holder extending a lease it still holds, and grows it for any new grant", () => {
    expect(decideAcquire(lease(), ask("a", 10))).toMatchObject({ lease: { holder: "a", token: 4, acquired_at: at(0).toISOString(), expires_at: at(35).toISOString() }, takeover: false });
    // Its own lease expired: another could have taken it meanwhile, so it is a new grant.
    expect(decideAcquire(lease(), ask("a", 26))).toMatchObject({ lease: { token: 5 }, takeover: false });
    expect(decideAcquire(lease({ holder: null }), ask("b", 1))).toMatchObject({ lease: { holder: "b", token: 5 }, takeover: false });
    expect(decideAcquire(lease(), ask("b", 25))).toMatchObject({ lease: { holder: "b", token: 5 }, takeover: true });
    expect(decideAcquire(null, ask("b", 0))).toMatchObject({ lease: { token: 1 } });
  });

  it("refuses a live lease to another holder before any slot rule, and a slot already claimed to anyone", () => {
    expect(decideAcquire(lease(), ask("b", 24, { claimSlot: at(30).toISOString() }))).toEqual({ refused: "held" });
    const claimed = lease({ holder: null, last_slot: at(9).toISOString() });
    expect(decideAcquire(claimed, ask("a", 10, { claimSlot: at(9).toISOString() }))).toEqual({ refused: "slot-taken" });
    expect(decideAcquire(claimed, ask("a", 10, { claimSlot: at(6).toISOString() }))).toEqual({ refused: "slot-taken" });
    expect(decideAcquire(claimed, ask("a", 10, { resumeSlot: at(6).toISOString() }))).toEqual({ refused: "slot-taken" });
    expect(decideAcquire(claimed, ask("a", 10, { resumeSlot: at(9).toISOString() }))).toMatchObject({ lease: { last_slot: at(9).toISOString() } });
    // A noted slot never refuses, and moves last_slot forward only.
    expect(decideAcquire(claimed, ask("a", 10, { noteSlot: at(3).toISOString() }))).toMatchObject({ lease: { last_slot: at(9).toISOString() } });
    expect(decideAcquire(claimed, ask("a", 13, { noteSlot: at(12).toISOString() }))).toMatchObject({ lease: { last_slot: at(12).toISOString() } });
  });
});

describe("the fence", () => {
  it("refuses a run whose token is older than the one the manifest recorded, and nothing else", () => {
    expect(isFencedOut(5, 4)).toBe(true);
    expect(isFencedOut(5, 5)).toBe(false);
    expect(isFencedOut(5, 6)).toBe(false);
    expect(isFencedOut(null, 1)).toBe(false);
    expect(isFencedOut(undefined, 1)).toBe(false);
    expect(isFencedOut(3, undefined)).toBe(false);
  });
});

describe("how a run asks for its lease", () => {
  const slot = at(9).toISOString();
  it("claims its slot when scheduled or starting up, resumes it on a retry, notes it for an operator's run, and waits only for an operator", () => {
    expect(leaseModeOf({ trigger: "schedule", requestIds: [], slot })).toEqual({ options: { claimSlot: slot }, wait: false });
    expect(leaseModeOf({ trigger: "startup", requestIds: [], slot })).toEqual({ options: { claimSlot: slot }, wait: false });
    expect(leaseModeOf({ trigger: "retry", requestIds: [], slot })).toEqual({ options: { resumeSlot: slot }, wait: false });
    expect(leaseModeOf({ trigger: "rebuild-request", requestIds: ["r1"] })).toEqual({ options: {}, wait: true });
    // A scheduled trigger folded into an operator's request still serves the request.
    expect(leaseModeOf({ trigger: "schedule", requestIds: ["r1"], slot })).toEqual({ options: { noteSlot: slot }, wait: true });
    expect(leaseModeOf({ trigger: "manual", requestIds: [] })).toEqual({ options: {}, wait: true });
    expect(leaseModeOf({ trigger: "takeover", requestIds: [] })).toEqual({ options: {}, wait: false });
    expect(leaseModeOf({ trigger: "reload", requestIds: [] })).toEqual({ options: {}, wait: false });
  });

  it("stands for the latest cron slot at or before now", () => {
    expect(latestSlot("*/3 * * * * *", "UTC", new Date(T0 + 4_500))).toBe(at(3).toISOString());
    expect(latestSlot("*/3 * * * * *", "UTC", at(6))).toBe(at(6).toISOString());
    expect(latestSlot("0 0 1 1 *", "UTC", at(6))).toBe("2026-01-01T00:00:00.000Z");
  });
});

describe("the lease period", () => {
  it("takes a dead holder's datasets over within one period: expiry after its last renewal plus one look", () => {
    for (const periodMs of [3_000, 6_000, 30_000, 3_600_000]) {
      const { ttlMs, renewMs, checkMs } = leaseTimings(periodMs);
      expect(ttlMs + checkMs).toBeLessThanOrEqual(periodMs + 1);
      // Three renewals fit before expiry, so one failed write does not lose the lease.
      expect(renewMs * 3).toBeLessThanOrEqual(ttlMs + 1);
    }
    expect(leaseTimings(30_000)).toEqual({ ttlMs: 25_000, renewMs: 8_333, checkMs: 5_000 });
  });
});
