/**
 * Each dataset's run of failures, counted across triggers (a fresh scheduled run does not reset
 * it: only a run that confirms the content does), and the scheduler's health from them: degraded
 * when every dataset that has run lately failed its last run, so a probe or an uptime check sees a
 * scheduler whose every run fails. Pure: no clock, no I/O.
 */
import { confirmsContent, isFailedOutcome, type RunOutcome } from "../../contract/run-record.ts";

/** A dataset's current run of failures. */
export interface FailureStreak {
  /** Failed runs in a row; 0 after a run that confirmed the content. */
  consecutiveFailures: number;
  /** When the first of them ended (ISO); null when not failing. */
  failingSince: string | null;
}

/** What /healthz says. */
export interface SchedulerHealth {
  status: "ok" | "degraded";
  /** The datasets whose last run failed, when degraded. */
  failing: string[];
}

export class FailureStreaks {
  readonly #streaks = new Map<string, FailureStreak>();

  /**
   * Counts a finished run: a failure adds one (the first sets `failingSince` to `finishedAt`), a
   * run that confirmed the content ends the streak, a cancelled run changes nothing.
   * @returns the dataset's streak after this run, for its record
   */
  record(dataset: string, outcome: RunOutcome, finishedAt: string): FailureStreak {
    const before = this.#streaks.get(dataset) ?? { consecutiveFailures: 0, failingSince: null };
    if (!isFailedOutcome(outcome) && !confirmsContent(outcome)) return before;
    const after = isFailedOutcome(outcome)
      ? { consecutiveFailures: before.consecutiveFailures + 1, failingSince: before.failingSince ?? finishedAt }
      : { consecutiveFailures: 0, failingSince: null };
    this.#streaks.set(dataset, after);
    return after;
  }

  /** The dataset's streak now (no runs yet: none). */
  get(dataset: string): FailureStreak | undefined {
    return this.#streaks.get(dataset);
  }

  /** Forgets a dataset that left the registry. */
  forget(dataset: string): void {
    this.#streaks.delete(dataset);
  }

  /**
   * Degraded when at least one of `datasets` has run and every one that has failed its last run
   * (datasets that have not run yet, or whose runs were only cancelled, do not count).
   */
  health(datasets: readonly string[]): SchedulerHealth {
    const known = datasets.filter((name) => this.#streaks.has(name));
    const failing = known.filter((name) => this.#streaks.get(name)!.consecutiveFailures > 0);
    return known.length > 0 && failing.length === known.length ? { status: "degraded", failing } : { status: "ok", failing: [] };
  }

  /** Every dataset's count, for /metrics. */
  entries(): [string, FailureStreak][] {
    return [...this.#streaks.entries()];
  }
}
