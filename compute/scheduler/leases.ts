/**
 * A scheduler's side of the per-dataset leases (contract/protocol/leases.ts), when several
 * schedulers share one store: it takes a dataset's lease before each run (or learns that another
 * scheduler holds it, or ran that cron slot, and skips), renews it while the run lasts, releases it
 * after, and looks every sixth of the lease period for leases whose holder died mid-run, to take
 * those datasets over. Operations on one dataset's lease run one after another, so a release can
 * never land after the next run's acquisition.
 *
 * Timings from the lease period P (EDGESNAP_LEASE_SECONDS, default 30 s): a lease is written to
 * expire 5P/6 after its last renewal, renewed every 5P/18 (three tries before it expires), and the
 * others look for expired leases every P/6, so a dead holder's dataset is taken over at most
 * 5P/6 + P/6 = P after its last renewal, that is within one lease period of its death.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { leaseObjectKey, LEASES_PREFIX } from "../../contract/lease-keys.ts";
import { acquireLease, LeaseSchema, readLease, releaseLease, renewLease, type AcquireOptions, type AcquireResult, type Lease, type LeaseGrant } from "../../contract/protocol/leases.ts";
import { listAll, type ObjectStore } from "../../contract/storage.ts";
import type { LogEntry } from "../run/logger.ts";

/** The timings that follow from a lease period (see the module comment). */
export function leaseTimings(periodMs: number): { ttlMs: number; renewMs: number; checkMs: number } {
  return { ttlMs: Math.round((periodMs * 5) / 6), renewMs: Math.round((periodMs * 5) / 18), checkMs: Math.round(periodMs / 6) };
}

/** This process's name in the leases: host (a pod's name in Kubernetes), pid and a random part. */
export function defaultHolder(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

type Log = (level: LogEntry["level"], event: string, fields?: Record<string, unknown>) => void;

export interface LeaseKeeperOptions {
  store: ObjectStore;
  holder: string;
  periodMs: number;
  log: Log;
  /** The datasets this scheduler runs (only their leases are taken over). */
  datasets: () => readonly string[];
  /** A dataset whose holder died was taken over: run it (its lease is held for that run). */
  onTakeover: (dataset: string, previousHolder: string | null) => void;
}

export class LeaseKeeper {
  readonly holder: string;
  readonly #options: LeaseKeeperOptions;
  readonly #timings: ReturnType<typeof leaseTimings>;
  readonly #held = new Map<string, { grant: LeaseGrant; timer: NodeJS.Timeout; onLost: (why: string) => void }>();
  readonly #chains = new Map<string, Promise<unknown>>();
  /** What the last scan read of each lease, by key and etag, so an unchanged lease is not read again. */
  readonly #seen = new Map<string, { etag: string; lease: Lease | null }>();
  #scanTimer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.holder = options.holder;
    this.#timings = leaseTimings(options.periodMs);
  }

  /** The wait between two looks at a lease another scheduler holds. */
  get checkMs(): number {
    return this.#timings.checkMs;
  }

  /** Runs `operation` after every earlier operation on the dataset's lease. */
  #serial<T>(dataset: string, operation: () => Promise<T>): Promise<T> {
    const next = (this.#chains.get(dataset) ?? Promise.resolve()).then(operation, operation);
    this.#chains.set(dataset, next.catch(() => {}));
    return next;
  }

  /**
   * Takes (or extends) the dataset's lease for a run, and keeps renewing it until `release`;
   * `onLost` is called if it is lost meanwhile (the run must stop: its publish would be refused).
   * @throws what the store throws (unreachable, a conflict storm)
   */
  acquire(dataset: string, mode: Omit<AcquireOptions, "now" | "ttlMs">, onLost: (why: string) => void = () => {}): Promise<AcquireResult> {
    return this.#serial(dataset, async () => {
      const result = await acquireLease(this.#options.store, dataset, this.holder, { ...mode, ttlMs: this.#timings.ttlMs });
      if (result.acquired) this.#keep(result.grant, onLost);
      return result;
    });
  }

  /** The token of the dataset's lease this scheduler holds, if it holds it. */
  token(dataset: string): number | undefined {
    return this.#held.get(dataset)?.grant.token;
  }

  #keep(grant: LeaseGrant, onLost: (why: string) => void): void {
    clearInterval(this.#held.get(grant.dataset)?.timer);
    const timer = setInterval(() => void this.#renew(grant.dataset), this.#timings.renewMs);
    timer.unref();
    this.#held.set(grant.dataset, { grant, timer, onLost });
  }

  #renew(dataset: string): Promise<void> {
    return this.#serial(dataset, async () => {
      const held = this.#held.get(dataset);
      if (!held) return;
      let renewed: LeaseGrant | null;
      try {
        renewed = await renewLease(this.#options.store, held.grant, { ttlMs: this.#timings.ttlMs });
      } catch (error) {
        // The store did not answer: the lease holds until it expires; past that, it is lost.
        if (Date.now() < Date.parse(held.grant.expiresAt)) return void this.#options.log("warn", "lease-renewal-failed", { dataset, message: (error as Error).message });
        renewed = null;
      }
      if (renewed) return void (held.grant = renewed);
      this.#forget(dataset);
      this.#options.log("warn", "lease-lost", { dataset, token: held.grant.token });
      held.onLost(`the lease of ${dataset} was lost (token ${held.grant.token}): another scheduler runs it now`);
    });
  }

  #forget(dataset: string): void {
    clearInterval(this.#held.get(dataset)?.timer);
    this.#held.delete(dataset);
  }

  /** Gives the dataset's lease back after its run (best effort: an unreachable store lets it expire). */
  release(dataset: string): Promise<void> {
    return this.#serial(dataset, async () => {
      const held = this.#held.get(dataset);
      if (!held) return;
      this.#forget(dataset);
      await releaseLease(this.#options.store, held.grant).catch((error: unknown) =>
        this.#options.log("warn", "lease-release-failed", { dataset, message: (error as Error).message }),
      );
    });
  }

  /** Whether another scheduler holds the dataset's lease right now (an operator's request waits for it). */
  async heldElsewhere(dataset: string): Promise<boolean> {
    const lease = await readLease(this.#options.store, dataset).catch(() => null);
    return lease !== null && lease.holder !== null && lease.holder !== this.holder && Date.parse(lease.expires_at) > Date.now();
  }

  /** Starts looking for leases whose holder died, every sixth of the lease period. */
  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#scanning = this.#scan()
        .catch((error: unknown) => this.#options.log("warn", "lease-scan-failed", { message: (error as Error).message }))
        .finally(() => {
          if (!this.#stopped) this.#scanTimer = setTimeout(tick, this.#timings.checkMs).unref();
        });
    };
    this.#scanTimer = setTimeout(tick, this.#timings.checkMs).unref();
  }

  /** One look: a lease held by another holder and expired means that holder died mid-run. */
  async #scan(): Promise<void> {
    const ours = new Set(this.#options.datasets());
    const now = Date.now();
    for await (const page of listAll(this.#options.store, LEASES_PREFIX)) {
      for (const object of page.objects) {
        const dataset = object.key.slice(LEASES_PREFIX.length).replace(/\.json$/, "");
        if (!ours.has(dataset) || object.key !== leaseObjectKey(dataset) || this.#held.has(dataset)) continue;
        const lease = await this.#read(object.key, object.etag);
        if (lease === null || lease.holder === null || lease.holder === this.holder || Date.parse(lease.expires_at) > now) continue;
        const result = await this.acquire(dataset, {});
        if (result.acquired && result.takeover) {
          this.#options.log("warn", "lease-taken-over", { dataset, from: result.previousHolder, token: result.grant.token });
          this.#options.onTakeover(dataset, result.previousHolder);
        } else if (result.acquired) await this.release(dataset);
      }
    }
  }

  async #read(key: string, etag: string): Promise<Lease | null> {
    const seen = this.#seen.get(key);
    if (seen?.etag === etag) return seen.lease;
    const object = await this.#options.store.get(key);
    let lease: Lease | null = null;
    try {
      lease = object ? LeaseSchema.parse(JSON.parse(await object.text())) : null;
    } catch {
      lease = null;
    }
    this.#seen.set(key, { etag: object?.etag ?? etag, lease });
    return lease;
  }

  /** Stops renewing and scanning, and releases every lease still held. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#scanTimer);
    await this.#scanning;
    await Promise.all([...this.#held.keys()].map((dataset) => this.release(dataset)));
  }
}

/** How a run asks for its lease: what slot it claims, resumes or notes, and whether it waits for a holder. */
export interface LeaseMode {
  options: Pick<AcquireOptions, "claimSlot" | "resumeSlot" | "noteSlot">;
  /** Wait while another scheduler holds the lease (an operator's request must run), else skip. */
  wait: boolean;
}

/**
 * The lease rule for a run, pure: a scheduled (or start-up) run claims its cron slot and is skipped
 * when another scheduler holds the lease or ran the slot; a retry goes on only while no later slot
 * ran; an operator's run (manual, a rebuild request, or any run a request was folded into) waits for
 * the lease and notes the slot folded into it; a reload or takeover run takes the lease as it is.
 */
export function leaseModeOf(request: { trigger: string; requestIds: readonly string[]; slot?: string }): LeaseMode {
  if (request.requestIds.length > 0 || request.trigger === "manual" || request.trigger === "rebuild-request") {
    return { options: request.slot === undefined ? {} : { noteSlot: request.slot }, wait: true };
  }
  if (request.trigger === "retry") return { options: request.slot === undefined ? {} : { resumeSlot: request.slot }, wait: false };
  if ((request.trigger === "schedule" || request.trigger === "startup") && request.slot !== undefined) return { options: { claimSlot: request.slot }, wait: false };
  return { options: {}, wait: false };
}
