/**
 * The supervisor's verdict on a run (compute/scheduler/supervise.ts `decideOutcome`), pure: from
 * how the child exited, what it reported and why the supervisor stopped it, if it did.
 */
import { describe, expect, it } from "vitest";
import { decideOutcome, type ChildMessage, type RunEnding } from "../../compute/scheduler/supervise.ts";

const OK: ChildMessage = { type: "result", result: { outcome: "ok", reason: null, rows: 3, bytes: 7, version: "v1", hash: "ab", durationMs: 5, code: null } };

function ending(overrides: Partial<RunEnding>): RunEnding {
  return { exit: { code: 0, signal: null }, stopped: null, heapExhausted: false, heapMb: 768, message: OK, invalidMessage: false, lastStderrLine: "", ...overrides };
}

describe("decideOutcome", () => {
  it("takes the child's report of a clean exit, with its figures", () => {
    expect(decideOutcome(ending({}))).toEqual({ outcome: "ok", reason: null, rows: 3, bytes: 7, version: "v1", hash: "ab", code: null });
  });

  it("lets the supervisor's own reason to stop the run win over anything the child reported", () => {
    const verdict = decideOutcome(ending({ stopped: { outcome: "timed-out", reason: "exceeded the timeout of 90 s" }, heapExhausted: true }));
    expect(verdict).toEqual({ outcome: "timed-out", reason: "exceeded the timeout of 90 s", rows: null, bytes: null, version: null, hash: null, code: null });
  });

  it("calls an exhausted V8 heap a memory kill, naming the cap", () => {
    const verdict = decideOutcome(ending({ heapExhausted: true, exit: { code: 134, signal: null }, message: null }));
    expect(verdict).toMatchObject({ outcome: "memory-killed", reason: "V8 heap limit reached (--max-old-space-size=768)", rows: null });
  });

  it("fails a child that could not start", () => {
    const verdict = decideOutcome(ending({ exit: { code: null, signal: null, error: new Error("spawn ENOENT") }, message: null }));
    expect(verdict).toMatchObject({ outcome: "failed", reason: "could not start: spawn ENOENT" });
  });

  it("fails a child that exited without a result, quoting its last stderr line and how it ended", () => {
    expect(decideOutcome(ending({ exit: { code: 1, signal: null }, message: null, lastStderrLine: "Error: boom" }))).toMatchObject({
      outcome: "failed",
      reason: "exited without a result (exited with code 1): Error: boom",
    });
    expect(decideOutcome(ending({ exit: { code: null, signal: "SIGKILL" }, message: null }))).toMatchObject({
      outcome: "failed",
      reason: "exited without a result (killed by SIGKILL)",
    });
    expect(decideOutcome(ending({ message: null, invalidMessage: true, exit: { code: 0, signal: null } }))).toMatchObject({
      outcome: "failed",
      reason: "sent an invalid result message (exited with code 0)",
    });
  });

  it("fails a child that reported success but exited non-zero, keeping its figures", () => {
    for (const outcome of ["ok", "unchanged"] as const) {
      const message: ChildMessage = { type: "result", result: { ...OK.result, outcome } };
      expect(decideOutcome(ending({ message, exit: { code: 3, signal: null } }))).toMatchObject({
        outcome: "failed",
        reason: `reported ${outcome} but exited with code 3`,
        rows: 3,
        version: "v1",
      });
    }
  });

  it("keeps a reported failure or rejection, with its reason or else how it exited, and its error code", () => {
    const rejected: ChildMessage = { type: "result", result: { ...OK.result, outcome: "rejected", reason: "only 0 rows", code: "gate-rejected" } };
    expect(decideOutcome(ending({ message: rejected, exit: { code: 5, signal: null } }))).toMatchObject({ outcome: "rejected", reason: "only 0 rows", code: "gate-rejected" });
    const failed: ChildMessage = { type: "result", result: { ...OK.result, outcome: "failed", reason: null } };
    expect(decideOutcome(ending({ message: failed, exit: { code: 4, signal: null } }))).toMatchObject({ outcome: "failed", reason: "failed (exited with code 4)" });
  });

  it("keeps a reason to one bounded line", () => {
    const long: ChildMessage = { type: "result", result: { ...OK.result, outcome: "failed", reason: `a\n${"x".repeat(2000)}` } };
    const reason = decideOutcome(ending({ message: long, exit: { code: 4, signal: null } })).reason!;
    expect(reason.length).toBeLessThanOrEqual(500);
    expect(reason).not.toContain("\n");
  });
});
