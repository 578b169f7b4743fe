/**
 * Several schedulers sharing one store and one edge through per-dataset leases: two, then three
 * real `edgesnap scheduler` processes (EDGESNAP_LEASES=on) against a real local edge, two datasets
 * on a 3-second schedule: every cron slot of each dataset runs exactly once, whichever scheduler
 * runs it. Then the scheduler running a slow build is SIGKILLed mid-run: another takes the dataset
 * over with a newer fencing token and runs it, and the dead one's run never publishes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLease } from "../../contract/protocol/leases.ts";
import { readHead, requireIndex } from "../../contract/protocol/manifests.ts";
import type { RunRecord } from "../../contract/run-record.ts";
import type { LogEntry } from "../../compute/run/logger.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import { descendantsOf, isAlive, logEntries, spawnCli, type SpawnedCli, waitFor } from "../support/processes.ts";
import { startLocalEdge, type LocalEdge } from "./local-edge.ts";

const LEASE_SECONDS = 6;

let local: LocalEdge;
beforeAll(async () => {
  local = await startLocalEdge();
}, 120_000);
afterAll(async () => {
  await local?.stop();
});

function startReplica(index: number, extra: Record<string, string> = {}): SpawnedCli {
  return spawnCli(
    ["scheduler"],
    {
      ...local.env(),
      EDGESNAP_DATASETS: "test/scheduler/fixtures/leases/datasets.ts",
      EDGESNAP_TEMP_ROOT: path.join(local.work, `runs-${index}`),
      EDGESNAP_LEASES: "on",
      EDGESNAP_LEASE_SECONDS: String(LEASE_SECONDS),
      EDGESNAP_CONCURRENCY: "2",
      ...extra,
    },
    { timeoutMs: 240_000 },
  );
}

function entriesOf(cli: SpawnedCli): LogEntry[] {
  return logEntries(cli.stdout());
}

/** Every run record of the dataset at the edge, following the listing's cursor. */
async function runsAtTheEdge(dataset: string): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  let cursor: string | null = null;
  do {
    const res = await local.admin(`/datasets/${dataset}/runs?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { runs: RunRecord[]; cursor: string | null };
    runs.push(...page.runs);
    cursor = page.cursor;
  } while (cursor);
  return runs;
}

/** Stops the replicas with SIGTERM (each exits 0), or SIGKILLs what is left. */
async function stopAll(replicas: SpawnedCli[]): Promise<void> {
  for (const cli of replicas) if (isAlive(cli.pid)) process.kill(cli.pid, "SIGTERM");
  const codes = await Promise.all(replicas.map(async (cli) => (await cli.exit).code));
  for (const cli of replicas) cli.kill();
  expect(codes.every((code) => code === 0 || code === null)).toBe(true);
}

/** The slow dataset's run start in a replica's log: its start-up run, or one an operator asked for. */
function slowStart(cli: SpawnedCli): LogEntry | undefined {
  return entriesOf(cli).find((e) => e.event === "run-started" && e.dataset === "lease-slow" && (e.trigger === "startup" || e.trigger === "rebuild-request"));
}

/**
 * Gets one slow run going and returns the replica running it: the start-up run on a fresh edge
 * (the first replica claims the slot), else an operator's request (one replica claims it).
 */
async function startSlowRun(replicas: SpawnedCli[]): Promise<SpawnedCli> {
  const asked = await local.admin("/datasets/lease-slow/rebuild", {});
  // 404: the edge has not seen the dataset yet, so this is a fresh edge and the start-up run is it.
  expect([202, 404]).toContain(asked.status);
  return waitFor("the slow run to start", async () => replicas.find((cli) => slowStart(cli)), 60_000);
}

/** The scheduled runs of a dataset, per slot: each slot must appear once. */
function slotsOf(records: RunRecord[], since: number): Map<string, RunRecord[]> {
  const bySlot = new Map<string, RunRecord[]>();
  for (const record of records) {
    if (record.trigger !== "schedule" || !record.scheduled_at || Date.parse(record.scheduled_at) < since) continue;
    bySlot.set(record.scheduled_at, [...(bySlot.get(record.scheduled_at) ?? []), record]);
  }
  return bySlot;
}

describe.each([2, 3])("%i schedulers on one store and edge, with leases", (count) => {
  it("run each dataset's cron slot exactly once, and leave the others' triggers to them", async () => {
    const since = Date.now();
    const replicas = Array.from({ length: count }, (_, i) => startReplica(i));
    try {
      await waitFor("every replica to start", async () => (replicas.every((cli) => entriesOf(cli).some((e) => e.event === "scheduler-started")) ? true : undefined), 60_000);
      // About seven slots of each dataset.
      await sleep(21_000);
      await stopAll(replicas);
      const spread: Record<string, number> = {};
      for (const dataset of ["lease-a", "lease-b"]) {
        const records = await runsAtTheEdge(dataset);
        // Nobody died: no dataset was taken over.
        expect(records.filter((r) => r.trigger === "takeover" && Date.parse(r.started_at) >= since)).toEqual([]);
        const slots = slotsOf(records, since);
        for (const runs of slots.values()) spread[runs[0]!.replica!] = (spread[runs[0]!.replica!] ?? 0) + 1;
        const twice = [...slots].filter(([, runs]) => runs.length > 1).map(([slot, runs]) => [slot, runs.map((r) => r.replica)]);
        expect(twice, `${dataset}: slots run more than once`).toEqual([]);
        expect(slots.size, dataset).toBeGreaterThanOrEqual(4);
        for (const runs of slots.values()) expect(runs[0]!.replica).toMatch(/^.+:\d+:[0-9a-f]{6}$/);
      }
      console.log(`${count} replicas: scheduled runs per replica ${JSON.stringify(Object.values(spread))}`);
      expect(replicas.flatMap((cli) => entriesOf(cli).filter((e) => e.event === "lease-taken-over"))).toEqual([]);
      // The replicas did leave triggers to each other.
      const skipped = replicas.flatMap((cli) => entriesOf(cli).filter((e) => e.event === "trigger-skipped"));
      expect(skipped.length).toBeGreaterThan(0);
      expect(skipped[0]!.reason).toMatch(/^(another scheduler \(.+\) is running it|slot \S+ already ran)$/);
    } finally {
      for (const cli of replicas) cli.kill();
    }
  }, 150_000);
});

describe("a scheduler SIGKILLed in the middle of a run", () => {
  it("has the dataset taken over by another within one lease period, with a newer token, and its own run never publishes", async () => {
    const replicas = [0, 1, 2].map((i) => startReplica(10 + i, { LEASE_SLOW_MS: "30000" }));
    try {
      await waitFor("every replica to start", async () => (replicas.every((cli) => entriesOf(cli).some((e) => e.event === "scheduler-started")) ? true : undefined), 60_000);
      const running = await startSlowRun(replicas);
      const killedRun = slowStart(running)!.run as string;
      const store = await openWorkerStore({ edgeUrl: local.edge.url, token: local.token });
      try {
        // Longer than a lease period: the live holder keeps renewing, nobody takes it over.
        const first = (await readLease(store, "lease-slow"))!;
        await sleep((LEASE_SECONDS + 2) * 1000);
        const before = (await readLease(store, "lease-slow"))!;
        expect(before).toMatchObject({ holder: first.holder, token: first.token });
        expect(Date.parse(before.expires_at)).toBeGreaterThan(Date.parse(first.expires_at));
        expect(replicas.flatMap((cli) => entriesOf(cli).filter((e) => e.event === "lease-taken-over"))).toEqual([]);
        const childPids = descendantsOf(running.pid);
        const killedAt = Date.now();
        process.kill(running.pid, "SIGKILL");
        const survivors = replicas.filter((cli) => cli !== running);
        const takeover = await waitFor(
          "another replica to take the dataset over",
          async () => survivors.map((cli) => entriesOf(cli).find((e) => e.event === "lease-taken-over" && e.dataset === "lease-slow")).find(Boolean),
          60_000,
        );
        console.log(`SIGKILL -> takeover: ${((Date.parse(takeover.time) - killedAt) / 1000).toFixed(1)} s (lease period ${LEASE_SECONDS} s)`);
        expect(takeover.token).toBe(before.token + 1);
        expect(before.holder).not.toBeNull();
        expect(takeover.from).toBe(before.holder);
        // Whatever the killed scheduler started died with it (the run child watches its parent).
        await waitFor("the killed replica's run to die", async () => (childPids.every((pid) => !isAlive(pid)) ? true : undefined), 10_000);
        // The new holder runs it once (trigger takeover) and publishes.
        const records = await waitFor(
          "the takeover run's record",
          async () => {
            const runs = (await runsAtTheEdge("lease-slow")).filter((r) => r.trigger === "takeover");
            return runs.length > 0 ? runs : undefined;
          },
          90_000,
        );
        expect(records).toHaveLength(1);
        expect(records[0]).toMatchObject({ outcome: "ok" });
        // Released once that run ended (the token stays), so any scheduler may take the next trigger.
        const lease = await waitFor("the lease to be released after the run", async () => {
          const now = (await readLease(store, "lease-slow"))!;
          return now.holder === null ? now : undefined;
        }, 15_000);
        expect(lease.token).toBeGreaterThanOrEqual(before.token + 1);
        // The takeover run published the current version; the dead replica's run published nothing.
        const { head } = (await readHead(store, "lease-slow"))!.value;
        const indexes = await Promise.all(head.versions.map((v) => requireIndex(store, "lease-slow", v.version)));
        expect(indexes.find((index) => index.version === head.current)!.run_id).toBe(records[0]!.id);
        expect(indexes.filter((index) => index.run_id === killedRun)).toEqual([]);
      } finally {
        await store.close();
      }
      await stopAll(replicas.filter((cli) => cli !== running));
    } finally {
      for (const cli of replicas) cli.kill();
    }
  }, 200_000);
});

describe("a scheduler that stalls past its lease (stopped, as by a long pause or a partition)", () => {
  it("stops its run when it wakes up and finds the lease taken over, and the new holder publishes", async () => {
    const replicas = [0, 1].map((i) => startReplica(20 + i, { LEASE_SLOW_MS: "25000" }));
    try {
      await waitFor("both replicas to start", async () => (replicas.every((cli) => entriesOf(cli).some((e) => e.event === "scheduler-started")) ? true : undefined), 60_000);
      const stalled = await startSlowRun(replicas);
      const other = replicas.find((cli) => cli !== stalled)!;
      process.kill(stalled.pid, "SIGSTOP");
      try {
        await waitFor("the other replica to take over", async () => entriesOf(other).find((e) => e.event === "lease-taken-over" && e.dataset === "lease-slow"), 60_000);
      } finally {
        process.kill(stalled.pid, "SIGCONT");
      }
      const stopped = await waitFor(
        "the stalled replica's run to be stopped",
        async () => entriesOf(stalled).find((e) => e.event === "run-finished" && e.dataset === "lease-slow"),
        60_000,
      );
      expect(stopped).toMatchObject({ outcome: "cancelled" });
      expect(stopped.reason).toMatch(/^the lease of lease-slow was lost \(token \d+\): another scheduler runs it now$/);
      expect(entriesOf(stalled).some((e) => e.event === "lease-lost" && e.dataset === "lease-slow")).toBe(true);
      const takeover = await waitFor("the new holder's run", async () => entriesOf(other).find((e) => e.event === "run-finished" && e.dataset === "lease-slow" && e.trigger === "takeover"), 90_000);
      expect(takeover.outcome).toBe("ok");
      await stopAll(replicas);
    } finally {
      for (const cli of replicas) {
        if (isAlive(cli.pid)) process.kill(cli.pid, "SIGCONT");
        cli.kill();
      }
    }
  }, 200_000);
});
