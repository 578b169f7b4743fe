/**
 * The watchdog's rule for a dataset that keeps failing (edge/watchdog/state.ts, pure): it alerts
 * within 2 minutes of the first failure whatever the schedule, once per change of state: at once
 * for a failure with no retry left or the third failure in a row (retried or not), otherwise
 * FAILING_ALERT_AFTER_SECONDS after the first failure, which the cron (once a minute) and every run
 * report check.
 */
import { describe, expect, it } from "vitest";
import { makeRunId, type RunRecord } from "../../contract/run-record.ts";
import {
  emptyAlertState,
  FAILING_ALERT_AFTER_SECONDS,
  FAILURES_IN_A_ROW_ALERT,
  observeFailing,
  observeRun,
  type AlertState,
} from "../../edge/watchdog/state.ts";

const T0 = Date.parse("2026-12-01T12:00:00.000Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const options = (seconds: number) => ({ now: at(seconds), deliver: false });

function record(seconds: number, overrides: Partial<RunRecord> = {}): RunRecord {
  const finished = at(seconds);
  return {
    id: makeRunId(finished, "0000abcd"),
    dataset: "d",
    trigger: "schedule",
    request_id: null,
    request_ids: [],
    started_at: finished.toISOString(),
    finished_at: finished.toISOString(),
    outcome: "failed",
    reason: "build failed: source unreachable",
    duration_ms: 500,
    peak_rss_bytes: null,
    rows: null,
    bytes: null,
    version: null,
    attempt: 1,
    will_retry: true,
    ...overrides,
  };
}

/** Feeds reports (and cron checks) in order; returns each alert's kind with when it was raised. */
function replay(events: ({ report: RunRecord } | { cron: number })[]): { kinds: [string, number][]; state: AlertState } {
  let state = emptyAlertState();
  const kinds: [string, number][] = [];
  for (const event of events) {
    const seconds = "cron" in event ? event.cron : (Date.parse(event.report.finished_at) - T0) / 1000;
    const step = "cron" in event ? observeFailing(state, options(seconds)) : observeRun(state, event.report, options(seconds));
    state = step.state;
    for (const alert of step.alerts) kinds.push([alert.kind, seconds]);
  }
  return { kinds, state };
}

describe("a dataset that keeps failing", () => {
  it("on a 5 s schedule whose every run is retried (and pre-empted by the next run), alerts at the third failure in a row", () => {
    const events = [0, 5, 10, 15, 20].map((s) => ({ report: record(s) }));
    const { kinds, state } = replay(events);
    expect(kinds).toEqual([["run-failed", 10]]);
    expect(FAILURES_IN_A_ROW_ALERT).toBe(3);
    expect(state.last_alerts.d!.message).toBe(
      `d: run ${record(10).id} failed (3 failed runs in a row): build failed: source unreachable. The previous version is still served.`,
    );
  });

  it("trusts the scheduler's own count: a record saying it is the fifth failure in a row alerts at once", () => {
    expect(replay([{ report: record(0, { consecutive_failures: 5, failing_since: at(-60).toISOString() }) }]).kinds).toEqual([["run-failed", 0]]);
  });

  it("alerts at once for a failure with no retry left, as before", () => {
    expect(replay([{ report: record(0, { will_retry: false, attempt: 3 }) }]).kinds).toEqual([["run-failed", 0]]);
  });

  it("on a slow schedule with a retry pending, alerts from the cron once the first failure is 45 s old, not before", () => {
    const { kinds } = replay([{ report: record(0) }, { cron: FAILING_ALERT_AFTER_SECONDS - 1 }, { cron: FAILING_ALERT_AFTER_SECONDS }, { cron: 120 }]);
    expect(kinds).toEqual([["run-failed", FAILING_ALERT_AFTER_SECONDS]]);
  });

  it("alerts within 2 minutes of the first failure wherever in the cron's minute it falls", () => {
    for (let second = 0; second < 60; second++) {
      const crons = [1, 2, 3].map((minute) => ({ cron: minute * 60 - second }));
      const { kinds } = replay([{ report: record(0) }, ...crons]);
      expect(kinds).toHaveLength(1);
      expect(kinds[0]![1]).toBeLessThanOrEqual(FAILING_ALERT_AFTER_SECONDS + 60);
      expect(kinds[0]![1]).toBeLessThan(120);
    }
  });

  it("raises one alert per change of state: none while it stays failing, one on recovery, and a new run of failures starts afresh", () => {
    const { kinds } = replay([
      { report: record(0) },
      { report: record(5) },
      { report: record(10) },
      { report: record(15) },
      { cron: 60 },
      { report: record(20, { outcome: "ok", reason: null, will_retry: false }) },
      { report: record(25) },
      { cron: 60 + 25 },
      { report: record(30) },
    ]);
    expect(kinds).toEqual([
      ["run-failed", 10],
      ["recovered", 20],
      ["run-failed", 85],
    ]);
  });

  it("keeps a failure the scheduler retried quiet when the retry succeeds within the grace", () => {
    const { kinds } = replay([{ report: record(0) }, { cron: 30 }, { report: record(12, { outcome: "ok", reason: null, trigger: "retry", attempt: 2 }) }, { cron: 90 }]);
    expect(kinds).toEqual([]);
  });
});
