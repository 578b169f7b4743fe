import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runObjectKey } from "../../contract/keys.ts";
import { RunRecordSchema, type RunRecord } from "../../contract/run-record.ts";
import { storeRecordSink } from "../../compute/scheduler/index.ts";
import { openLocalStore } from "../../compute/storage/local.ts";
import { NEVER, startTestScheduler, type TestScheduler } from "./helpers.ts";

let current: TestScheduler | null = null;
afterEach(async () => {
  await current?.cleanup();
  current = null;
});

describe("run records and the status port", () => {
  it("hands every record to the sink, and a sink that throws only costs a log line", async () => {
    const sunk: RunRecord[] = [];
    let calls = 0;
    current = await startTestScheduler([{ name: "rec", schedule: NEVER, fixture: "slow-ok" }], {
      env: { FIXTURE_DELAY_MS: "50" },
      recordSink: async (record) => {
        calls++;
        if (calls === 1) throw new Error("store down");
        sunk.push(record);
      },
    });
    current.scheduler.trigger("rec", "rebuild-request", "req-1");
    await current.scheduler.idle();
    current.scheduler.trigger("rec");
    await current.scheduler.idle();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toBe(2);
    expect(sunk).toHaveLength(1);
    expect(RunRecordSchema.parse(sunk[0])).toEqual(sunk[0]);
    const first = current.scheduler.records("rec")[0]!;
    expect(first).toMatchObject({ trigger: "rebuild-request", request_id: "req-1", outcome: "ok", rows: 3, bytes: 7 });
    expect(current.logs.some((l) => l.event === "record-sink-failed" && l.message === "store down")).toBe(true);
  });

  it("writes records to the local R2 bucket under runs/<dataset>/<run id>.json", async () => {
    const persistTo = await fs.mkdtemp(path.join(os.tmpdir(), "edgesnap-records-r2-"));
    const store = await openLocalStore({ persistTo });
    try {
      current = await startTestScheduler([{ name: "rec", schedule: NEVER, fixture: "slow-ok" }], {
        env: { FIXTURE_DELAY_MS: "50" },
        recordSink: storeRecordSink(store),
      });
      current.scheduler.trigger("rec");
      await current.scheduler.idle();
      const record = current.scheduler.records("rec")[0]!;
      let stored = null;
      for (let i = 0; i < 50 && !stored; i++) {
        stored = await store.get(runObjectKey("rec", record.id));
        if (!stored) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(RunRecordSchema.parse(JSON.parse(await stored!.text()))).toEqual(record);
    } finally {
      await current?.cleanup();
      current = null;
      await store.close();
      await fs.rm(persistTo, { recursive: true, force: true });
    }
  });

  it("answers /healthz and /metrics, 404 elsewhere, 405 for other methods, and 503 while stopping", async () => {
    current = await startTestScheduler([{ name: "slow", schedule: NEVER, fixture: "slow-ok" }], {
      env: { FIXTURE_DELAY_MS: "1500" },
      // Long enough for the child to finish however slow the machine is: this test is about the
      // port while stopping, not about the grace period.
      shutdownGraceMs: 120_000,
    });
    const base = `http://127.0.0.1:${current.scheduler.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    expect(await metrics.text()).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(405);
    current.scheduler.trigger("slow");
    const stopped = current.scheduler.stop();
    const during = await fetch(`${base}/healthz`);
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ status: "stopping", running: 1 });
    expect(current.scheduler.trigger("slow")).toBe("stopped");
    await stopped;
    expect(current.scheduler.records("slow")[0]!.outcome).toBe("ok");
  });
});
