/**
 * The staleness maths (contract/freshness.ts): age from the last confirmation, stale strictly over
 * the budget, the default budget from a schedule's interval, and the compute side's silence.
 */
import { describe, expect, it } from "vitest";
import {
  defaultMaxAgeSeconds,
  freshnessOf,
  isSilent,
  largestBudgetSeconds,
  latestTime,
  MIN_DEFAULT_BUDGET_SECONDS,
  withPublishedVersion as publishHead,
  type DatasetFacts,
  type DatasetHead,
  type VersionSummary,
} from "../../contract/index.ts";

/** The head a publish makes (the dropped versions do not matter here). */
function withPublishedVersion(previous: DatasetHead | null, dataset: string, summary: VersionSummary, now: Date, facts?: DatasetFacts): DatasetHead {
  return publishHead(previous, dataset, summary, now, facts).head;
}

const T0 = new Date("2026-11-30T12:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function info(version: string, hash: string): VersionSummary {
  return { version, hash: hash.repeat(64), generated_at: T0.toISOString(), rows: 1, bytes: 3 };
}

describe("freshnessOf", () => {
  it("counts the age from checked_at and is stale only strictly over the budget", () => {
    const facts = { checked_at: T0.toISOString(), max_age_seconds: 300 };
    expect(freshnessOf(facts, at(0))).toEqual({ checked_at: T0.toISOString(), age_seconds: 0, max_age_seconds: 300, stale: false });
    expect(freshnessOf(facts, at(300)).stale).toBe(false);
    expect(freshnessOf(facts, at(301))).toMatchObject({ age_seconds: 301, stale: true });
    // Whole seconds, rounded down: 300.9 s is not yet over a 300 s budget.
    expect(freshnessOf(facts, new Date(at(300).getTime() + 900)).stale).toBe(false);
  });

  it("never calls a dataset without a recorded budget stale, and falls back to the build time for its age", () => {
    expect(freshnessOf({ checked_at: null, generated_at: T0.toISOString(), max_age_seconds: null }, at(86_400))).toEqual({
      checked_at: null,
      age_seconds: 86_400,
      max_age_seconds: null,
      stale: false,
    });
    expect(freshnessOf({ checked_at: null, max_age_seconds: 60 }, at(10))).toEqual({ checked_at: null, age_seconds: null, max_age_seconds: 60, stale: false });
  });

  it("treats a checked_at ahead of the reader's clock as age 0, not a negative age", () => {
    expect(freshnessOf({ checked_at: at(30).toISOString(), max_age_seconds: 10 }, T0)).toMatchObject({ age_seconds: 0, stale: false });
  });
});

describe("freshness across runs (manifest facts)", () => {
  it("an unchanged run confirms the content: the same version becomes fresh again and records the budget it brings", () => {
    const published = withPublishedVersion(null, "ds", info("20261130T120000000Z-aaaaaaaa", "a"), T0, { maxAgeSeconds: 300 });
    expect(freshnessOf(published, at(400)).stale).toBe(true);
    // What confirmUnchanged and commitVersion write for unchanged content: checked_at and the facts.
    const confirmed = { ...published, checked_at: at(400).toISOString(), max_age_seconds: 600 };
    expect(confirmed.current).toBe(published.current);
    expect(freshnessOf(confirmed, at(401))).toMatchObject({ age_seconds: 1, max_age_seconds: 600, stale: false });
    expect(freshnessOf(confirmed, at(1001)).stale).toBe(true);
  });

  it("a publish of new content restarts the age; a run that records no budget keeps the previous one", () => {
    const first = withPublishedVersion(null, "ds", info("20261130T120000000Z-aaaaaaaa", "a"), T0, { maxAgeSeconds: 300 });
    const second = withPublishedVersion(first, "ds", info("20261130T121000000Z-bbbbbbbb", "b"), at(600));
    expect(second.max_age_seconds).toBe(300);
    expect(freshnessOf(second, at(700))).toMatchObject({ age_seconds: 100, stale: false });
  });

  it("a failed run changes nothing, so the age keeps growing until the dataset is stale", () => {
    const published = withPublishedVersion(null, "ds", info("20261130T120000000Z-aaaaaaaa", "a"), T0, { maxAgeSeconds: 300 });
    expect([60, 299, 300, 301].map((s) => freshnessOf(published, at(s)).stale)).toEqual([false, false, false, true]);
  });
});

describe("defaultMaxAgeSeconds", () => {
  it("is three intervals of the schedule, never less than five minutes", () => {
    expect(MIN_DEFAULT_BUDGET_SECONDS).toBe(300);
    expect(defaultMaxAgeSeconds(60)).toBe(300);
    expect(defaultMaxAgeSeconds(300)).toBe(900);
    expect(defaultMaxAgeSeconds(3600)).toBe(10_800);
    expect(defaultMaxAgeSeconds(0.5)).toBe(300);
  });
});

describe("the compute side's silence", () => {
  it("is silent only when the latest activity is older than the largest budget", () => {
    const largest = largestBudgetSeconds([300, null, 900]);
    expect(largest).toBe(900);
    const last = latestTime([T0.toISOString(), null, at(-100).toISOString()]);
    expect(last).toBe(T0.toISOString());
    expect(isSilent(last, largest, at(900))).toBe(false);
    expect(isSilent(last, largest, at(901))).toBe(true);
  });

  it("is never silent while nothing is known", () => {
    expect(largestBudgetSeconds([null, null])).toBeNull();
    expect(isSilent(T0.toISOString(), null, at(10_000))).toBe(false);
    expect(isSilent(null, 60, at(10_000))).toBe(false);
    expect(latestTime([])).toBeNull();
  });
});
