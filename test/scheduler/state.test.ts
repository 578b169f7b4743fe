/**
 * The scheduler's pure core (compute/scheduler/state.ts): every scheduling rule driven by events
 * alone, with no timers and no processes.
 */
import { describe, expect, it } from "vitest";
import { SchedulerState, type SchedulerEffect, type SchedulingPolicy } from "../../compute/scheduler/state.ts";

const POLICY: SchedulingPolicy = { concurrency: 4, retries: 2, retryBackoffMs: 100 };

function state(datasets: string[], policy: Partial<SchedulingPolicy> = {}): SchedulerState {
  return new SchedulerState(datasets, { ...POLICY, ...policy });
}

/** The datasets the effects start, in order. */
const started = (effects: SchedulerEffect[]) => effects.flatMap((e) => (e.type === "start" ? [e.dataset] : []));

describe("triggers and coalescing", () => {
  it("starts a run at once, queues one follow-up during it and folds further triggers into that one", () => {
    const s = state(["a"]);
    const first = s.trigger("a", "manual", null, false);
    expect(first.result).toBe("started");
    expect(first.effects).toEqual([{ type: "start", dataset: "a", run: { trigger: "manual", requestIds: [], attempt: 1, force: false } }]);
    expect(s.trigger("a", "schedule", null, false)).toEqual({ result: "queued", effects: [] });
    expect(s.trigger("a", "manual", null, false)).toEqual({ result: "coalesced", effects: [] });
    expect(s.trigger("a", "manual", null, false).result).toBe("coalesced");
    const done = s.runFinished("a", "ok");
    expect(done.effects).toEqual([{ type: "start", dataset: "a", run: { trigger: "schedule", requestIds: [], attempt: 1, force: false } }]);
    expect(s.runFinished("a", "ok").effects).toEqual([]);
    expect(s.isIdle()).toBe(true);
  });

  it("keeps every request id coalesced into a run, once each, and a force from any of them", () => {
    const s = state(["a"]);
    s.trigger("a", "schedule", null, false);
    s.trigger("a", "rebuild-request", "req-1", false);
    s.trigger("a", "rebuild-request", "req-2", true);
    s.trigger("a", "rebuild-request", "req-1", false);
    s.trigger("a", "schedule", null, false);
    expect(s.runFinished("a", "ok").effects).toEqual([
      { type: "start", dataset: "a", run: { trigger: "rebuild-request", requestIds: ["req-1", "req-2"], attempt: 1, force: true } },
    ]);
  });

  it("answers stopped after stop, and drops what was queued", () => {
    const s = state(["a", "b"], { concurrency: 1 });
    s.trigger("a", "manual", null, false);
    s.trigger("b", "manual", null, false);
    s.trigger("a", "manual", null, false);
    expect(s.waiting).toBe(1);
    expect(s.stop()).toEqual([]);
    expect(s.stopping).toBe(true);
    expect(s.trigger("a", "manual", null, false)).toEqual({ result: "stopped", effects: [] });
    expect(s.waiting).toBe(0);
    expect(s.runFinished("a", "ok")).toEqual({ willRetry: false, effects: [] });
    expect(s.isIdle()).toBe(true);
  });
});

describe("the concurrency limit", () => {
  it("never starts more runs than the limit and starts waiting ones in arrival order as slots free up", () => {
    const s = state(["a", "b", "c"], { concurrency: 2 });
    expect(["a", "b", "c"].map((d) => s.trigger(d, "manual", null, false).result)).toEqual(["started", "started", "queued"]);
    expect(s.running).toBe(2);
    expect(s.waiting).toBe(1);
    expect(started(s.runFinished("b", "ok").effects)).toEqual(["c"]);
    expect(s.running).toBe(2);
    expect(started(s.runFinished("a", "ok").effects)).toEqual([]);
    expect(s.running).toBe(1);
  });

  it("lets a follow-up run wait for a slot behind runs queued before it", () => {
    const s = state(["a", "b"], { concurrency: 1 });
    s.trigger("a", "manual", null, false);
    s.trigger("b", "manual", null, false);
    s.trigger("a", "manual", null, false);
    expect(started(s.runFinished("a", "ok").effects)).toEqual(["b"]);
    expect(started(s.runFinished("b", "ok").effects)).toEqual(["a"]);
  });
});

describe("retries", () => {
  it("retries a retryable outcome with doubling backoff up to the limit, then stops", () => {
    const s = state(["a"], { retries: 2, retryBackoffMs: 100 });
    s.trigger("a", "schedule", "req-1", false);
    const first = s.runFinished("a", "failed");
    expect(first).toEqual({ willRetry: true, effects: [{ type: "arm-retry", dataset: "a", delayMs: 100, attempt: 2 }] });
    expect(s.isIdle()).toBe(false);
    expect(s.retryDue("a")).toEqual([{ type: "start", dataset: "a", run: { trigger: "retry", requestIds: ["req-1"], attempt: 2, force: false } }]);
    expect(s.runFinished("a", "timed-out")).toEqual({ willRetry: true, effects: [{ type: "arm-retry", dataset: "a", delayMs: 200, attempt: 3 }] });
    expect(started(s.retryDue("a"))).toEqual(["a"]);
    expect(s.runFinished("a", "memory-killed")).toEqual({ willRetry: false, effects: [] });
    expect(s.isIdle()).toBe(true);
  });

  it("does not retry a success, a gate rejection or a cancelled run", () => {
    for (const outcome of ["ok", "unchanged", "rejected", "cancelled"] as const) {
      const s = state(["a"]);
      s.trigger("a", "manual", null, false);
      expect(s.runFinished("a", outcome)).toEqual({ willRetry: false, effects: [] });
    }
  });

  it("does not retry when another run is already asked for: that run goes next instead", () => {
    const s = state(["a"]);
    s.trigger("a", "manual", null, false);
    s.trigger("a", "schedule", null, false);
    const done = s.runFinished("a", "failed");
    expect(done.willRetry).toBe(false);
    expect(done.effects).toEqual([{ type: "start", dataset: "a", run: { trigger: "schedule", requestIds: [], attempt: 1, force: false } }]);
  });

  it("cancels a pending retry when a fresh trigger arrives, and the fresh run starts from attempt 1", () => {
    const s = state(["a"]);
    s.trigger("a", "schedule", null, false);
    expect(s.runFinished("a", "failed").willRetry).toBe(true);
    const fresh = s.trigger("a", "rebuild-request", "req-9", false);
    expect(fresh.result).toBe("started");
    expect(fresh.effects).toEqual([
      { type: "cancel-retry", dataset: "a" },
      { type: "start", dataset: "a", run: { trigger: "rebuild-request", requestIds: ["req-9"], attempt: 1, force: false } },
    ]);
    // The cancelled retry's timer, should it still fire, starts nothing.
    expect(s.retryDue("a")).toEqual([]);
  });

  it("cancels pending retries on stop, and a retry that comes due while stopping starts nothing", () => {
    const s = state(["a", "b"]);
    s.trigger("a", "manual", null, false);
    s.trigger("b", "manual", null, false);
    s.runFinished("a", "failed");
    expect(s.stop()).toEqual([{ type: "cancel-retry", dataset: "a" }]);
    expect(s.retryDue("a")).toEqual([]);
    expect(s.runFinished("b", "failed")).toEqual({ willRetry: false, effects: [] });
  });

  it("counts zero retries as none", () => {
    const s = state(["a"], { retries: 0 });
    s.trigger("a", "manual", null, false);
    expect(s.runFinished("a", "failed")).toEqual({ willRetry: false, effects: [] });
  });
});

describe("misuse", () => {
  it("refuses an unknown dataset and a finish without a run", () => {
    const s = state(["a"]);
    expect(s.has("a")).toBe(true);
    expect(s.has("b")).toBe(false);
    expect(() => s.trigger("b", "manual", null, false)).toThrow(/unknown dataset b/);
    expect(() => s.runFinished("a", "ok")).toThrow(/no run of a/);
  });
});

describe("datasets joining and leaving (a re-read registry)", () => {
  it("forgets a removed dataset at once when idle, drops its queued run and pending retry, and refuses its triggers", () => {
    const s = state(["a", "b"], { concurrency: 1 });
    s.trigger("a", "manual", null, false);
    s.trigger("b", "manual", null, false);
    expect(s.waiting).toBe(1);
    expect(s.remove("b")).toEqual([]);
    expect(s.waiting).toBe(0);
    expect(s.has("b")).toBe(false);
    expect(() => s.trigger("b", "manual", null, false)).toThrow(/unknown dataset b/);
    expect(started(s.runFinished("a", "ok").effects)).toEqual([]);
    expect(s.isIdle()).toBe(true);
  });

  it("lets a removed dataset's running run finish, without a retry or a follow-up, then forgets it", () => {
    const s = state(["a"]);
    s.trigger("a", "manual", null, false);
    s.trigger("a", "schedule", null, false);
    expect(s.remove("a")).toEqual([]);
    expect(s.has("a")).toBe(false);
    expect(s.runFinished("a", "failed")).toEqual({ willRetry: false, effects: [] });
    expect(s.isIdle()).toBe(true);
    // Added back later, it starts afresh.
    s.add("a");
    expect(s.trigger("a", "reload", null, false).result).toBe("started");
  });

  it("cancels the pending retry of a removed dataset", () => {
    const s = state(["a"]);
    s.trigger("a", "manual", null, false);
    expect(s.runFinished("a", "failed").willRetry).toBe(true);
    expect(s.remove("a")).toEqual([{ type: "cancel-retry", dataset: "a" }]);
    expect(s.retryDue("a")).toEqual([]);
    expect(s.isIdle()).toBe(true);
  });
});
