/**
 * The scheduler's decisions, with no timers, processes or I/O: which run starts when, how triggers
 * coalesce, when a failed run is retried and after how long, and how many runs execute at once.
 * The process side (index.ts) feeds it events (a trigger, a run that finished, a retry that came
 * due, stop) and carries out what it answers: runs to start and retry timers to arm or cancel.
 *
 * The rules: per dataset at most one run at a time; a trigger during a run becomes one follow-up
 * run and further triggers fold into that one (keeping every request id and any force); at most
 * `concurrency` runs at once, the others wait in arrival order; a failed, timed-out or
 * memory-killed run is retried up to `retries` times after `retryBackoffMs * 2^(attempt-1)`; a
 * fresh trigger replaces a pending retry (and starts again from attempt 1); stop drops everything
 * not yet running.
 */
import { isRetryableOutcome, type RunOutcome, type RunTrigger } from "../../contract/run-record.ts";

/** A run asked for: why, for which operator requests, which attempt, forced or not. */
export interface RunRequest {
  trigger: RunTrigger;
  /** Every operator request the run serves, in arrival order (coalesced triggers add theirs). */
  requestIds: string[];
  /** 1 for a fresh run, 2 for its first retry, and so on. */
  attempt: number;
  /** Publish even unchanged content and skip the row-count gates. */
  force: boolean;
  /** The cron slot (ISO) a scheduled or start-up run is for; absent for other triggers. */
  slot?: string;
}

/** What the process side must do after an event. */
export type SchedulerEffect =
  | { type: "start"; dataset: string; run: RunRequest }
  | { type: "arm-retry"; dataset: string; delayMs: number; attempt: number }
  | { type: "cancel-retry"; dataset: string };

/** What `trigger` did: started a run now, queued one, or folded into one already queued. */
export type TriggerResult = "started" | "queued" | "coalesced" | "stopped";

export interface SchedulingPolicy {
  /** Most runs executing at once, over all datasets. */
  concurrency: number;
  /** Retries after a retryable outcome. */
  retries: number;
  /** Delay before the first retry, doubled for each further one. */
  retryBackoffMs: number;
}

interface DatasetSlot {
  /** The dataset left the registry while a run was executing: the slot goes when that run ends. */
  removed: boolean;
  /** The run executing now. */
  running: RunRequest | null;
  /** The next run asked for and not started yet: the coalescing point. */
  next: RunRequest | null;
  /** The retry waiting for its timer. */
  retry: RunRequest | null;
}

/** The scheduler's state: every method takes one event and returns the effects it calls for. */
export class SchedulerState {
  readonly #policy: SchedulingPolicy;
  readonly #slots = new Map<string, DatasetSlot>();
  /** Datasets whose next run waits for a concurrency slot, in arrival order. */
  readonly #waiting: string[] = [];
  #running = 0;
  #stopping = false;

  constructor(datasets: Iterable<string>, policy: SchedulingPolicy) {
    this.#policy = policy;
    for (const dataset of datasets) this.add(dataset);
  }

  /** A dataset joins (a module added to the registry); nothing runs until it is triggered. */
  add(dataset: string): void {
    const slot = this.#slots.get(dataset);
    if (slot) slot.removed = false;
    else this.#slots.set(dataset, { removed: false, running: null, next: null, retry: null });
  }

  /**
   * A dataset leaves (its module left the registry or broke): what waits is dropped; a run that is
   * executing goes on, and the dataset is forgotten when it ends.
   */
  remove(dataset: string): SchedulerEffect[] {
    const slot = this.#slots.get(dataset);
    if (!slot) return [];
    const effects: SchedulerEffect[] = slot.retry ? [{ type: "cancel-retry", dataset }] : [];
    const waiting = this.#waiting.indexOf(dataset);
    if (waiting >= 0) this.#waiting.splice(waiting, 1);
    if (slot.running) Object.assign(slot, { removed: true, next: null, retry: null });
    else this.#slots.delete(dataset);
    return effects;
  }

  /** Runs executing now. */
  get running(): number {
    return this.#running;
  }

  /** Runs waiting for a concurrency slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  has(dataset: string): boolean {
    const slot = this.#slots.get(dataset);
    return slot !== undefined && !slot.removed;
  }

  /** True when nothing runs, waits or is due for a retry. */
  isIdle(): boolean {
    return this.#waiting.length === 0 && [...this.#slots.values()].every((slot) => !slot.running && !slot.next && !slot.retry);
  }

  /** A run is asked for. `requestId` names the operator request behind it, if any. @throws for an unknown dataset */
  trigger(dataset: string, trigger: RunTrigger, requestId: string | null, force: boolean, slotTime?: string): { result: TriggerResult; effects: SchedulerEffect[] } {
    if (!this.has(dataset)) throw new Error(`unknown dataset ${dataset}`);
    const slot = this.#slot(dataset);
    if (this.#stopping) return { result: "stopped", effects: [] };
    const effects: SchedulerEffect[] = [];
    if (slot.retry) {
      // A fresh run replaces the pending retry: the next run starts from attempt 1.
      slot.retry = null;
      effects.push({ type: "cancel-retry", dataset });
    }
    if (slot.next) {
      if (requestId !== null && !slot.next.requestIds.includes(requestId)) slot.next.requestIds.push(requestId);
      slot.next.force ||= force;
      // The follow-up run stands for the latest slot folded into it.
      if (slotTime !== undefined && (slot.next.slot === undefined || Date.parse(slotTime) > Date.parse(slot.next.slot))) slot.next.slot = slotTime;
      return { result: "coalesced", effects };
    }
    slot.next = { trigger, requestIds: requestId === null ? [] : [requestId], attempt: 1, force, ...(slotTime !== undefined ? { slot: slotTime } : {}) };
    if (slot.running) return { result: "queued", effects };
    this.#enqueue(dataset, effects);
    return { result: slot.running ? "started" : "queued", effects };
  }

  /**
   * The dataset's run ended with `outcome`. A retryable outcome is retried unless the attempts are
   * used up, the scheduler is stopping, or another run is already asked for.
   */
  runFinished(dataset: string, outcome: RunOutcome): { willRetry: boolean; effects: SchedulerEffect[] } {
    const slot = this.#slot(dataset);
    const finished = slot.running;
    if (!finished) throw new Error(`no run of ${dataset} is running`);
    slot.running = null;
    this.#running--;
    const effects: SchedulerEffect[] = [];
    if (slot.removed) {
      this.#slots.delete(dataset);
      this.#pump(effects);
      return { willRetry: false, effects };
    }
    const willRetry = !this.#stopping && !slot.next && isRetryableOutcome(outcome) && finished.attempt <= this.#policy.retries;
    if (slot.next) this.#enqueue(dataset, effects);
    else if (willRetry) {
      slot.retry = { ...finished, trigger: "retry", requestIds: [...finished.requestIds], attempt: finished.attempt + 1 };
      const delayMs = this.#policy.retryBackoffMs * 2 ** (finished.attempt - 1);
      effects.push({ type: "arm-retry", dataset, delayMs, attempt: slot.retry.attempt });
    }
    this.#pump(effects);
    return { willRetry, effects };
  }

  /**
   * The dataset's run did not start after all: another scheduler holds its lease or ran its slot.
   * Nothing is retried; a run asked for meanwhile starts as usual.
   */
  runSkipped(dataset: string): SchedulerEffect[] {
    const slot = this.#slot(dataset);
    if (!slot.running) throw new Error(`no run of ${dataset} is running`);
    slot.running = null;
    this.#running--;
    const effects: SchedulerEffect[] = [];
    if (slot.removed) this.#slots.delete(dataset);
    else if (slot.next) this.#enqueue(dataset, effects);
    this.#pump(effects);
    return effects;
  }

  /** The retry timer armed for the dataset fired. */
  retryDue(dataset: string): SchedulerEffect[] {
    const slot = this.#slots.get(dataset);
    if (!slot) return [];
    const retry = slot.retry;
    slot.retry = null;
    const effects: SchedulerEffect[] = [];
    if (!retry || this.#stopping || slot.next) return effects;
    slot.next = retry;
    this.#enqueue(dataset, effects);
    return effects;
  }

  /** Stops scheduling: drops every run not yet started and every pending retry. Running runs go on. */
  stop(): SchedulerEffect[] {
    this.#stopping = true;
    this.#waiting.length = 0;
    const effects: SchedulerEffect[] = [];
    for (const [dataset, slot] of this.#slots) {
      slot.next = null;
      if (slot.retry) effects.push({ type: "cancel-retry", dataset });
      slot.retry = null;
    }
    return effects;
  }

  #slot(dataset: string): DatasetSlot {
    const slot = this.#slots.get(dataset);
    if (!slot) throw new Error(`unknown dataset ${dataset}`);
    return slot;
  }

  #enqueue(dataset: string, effects: SchedulerEffect[]): void {
    if (!this.#slots.get(dataset)!.running && !this.#waiting.includes(dataset)) this.#waiting.push(dataset);
    this.#pump(effects);
  }

  /** Starts waiting runs while concurrency slots are free. */
  #pump(effects: SchedulerEffect[]): void {
    while (!this.#stopping && this.#running < this.#policy.concurrency && this.#waiting.length > 0) {
      const dataset = this.#waiting.shift()!;
      const slot = this.#slots.get(dataset)!;
      if (slot.running || !slot.next) continue;
      slot.running = slot.next;
      slot.next = null;
      this.#running++;
      effects.push({ type: "start", dataset, run: slot.running });
    }
  }
}
