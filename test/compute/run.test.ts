/**
 * The run pipeline against the real local store (workerd through wrangler's getPlatformProxy) with
 * real polars frames: what a run publishes, and what it must not publish.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pl from "nodejs-polars";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findItemEntry, itemShardObjectKey, itemShardOf, manifestObjectKey, pageObjectKey, versionIndexKey } from "../../contract/index.ts";
import { collectGarbage, ORPHAN_MIN_AGE_MS } from "../../contract/protocol/collect.ts";
import { acquireLease, readLease } from "../../contract/protocol/leases.ts";
import { leaseObjectKey } from "../../contract/lease-keys.ts";
import { readHead as readVersioned } from "../../contract/protocol/manifests.ts";
import type { Config } from "../../compute/config.ts";
import { defineDataset, type DatasetContext } from "../../compute/dataset/define.ts";
import { publishVersion } from "../../compute/publish/publish.ts";
import { buildFrame, runDataset } from "../../compute/run/run.ts";
import { sha256Hex } from "../../compute/storage/hash.ts";
import type { ObjectStore } from "../../compute/storage/index.ts";
import { listKeys, makeTempDir, memoryLogger, openLocalTestStore, readPublished, runConfig, serializeFrame } from "./helpers.ts";

/** The head as `{ manifest, etag }`, or null. */
async function readManifest(from: ObjectStore, dataset: string) {
  const read = await readVersioned(from, dataset);
  return read === null ? null : { manifest: read.value.head, etag: read.etag };
}

let persist: Awaited<ReturnType<typeof makeTempDir>>;
let tempRoot: Awaited<ReturnType<typeof makeTempDir>>;
let store: ObjectStore;
let config: Config;

beforeAll(async () => {
  persist = await makeTempDir("run-persist");
  tempRoot = await makeTempDir("run-temp");
  store = await openLocalTestStore(persist.dir);
  config = runConfig(persist.dir, tempRoot.dir);
});
afterAll(async () => {
  await store?.close();
  await persist?.remove();
  await tempRoot?.remove();
});

/** A keyed dataset whose values the test controls. */
function keyedDataset(name: string, values: () => number[], onBuild?: (ctx: DatasetContext) => unknown) {
  return defineDataset({
    name,
    schedule: "*/5 * * * *",
    key: "id",
    async build(ctx) {
      await onBuild?.(ctx);
      const v = values();
      return ctx.pl.DataFrame({ id: v.map((_, i) => `k${i}`), value: v }).lazy();
    },
  });
}

const run = (definition: ReturnType<typeof defineDataset>, overrides: Partial<Parameters<typeof runDataset>[1]> = {}) => {
  const { log, records } = memoryLogger();
  return runDataset(definition, { config, store, log, notify: false, ...overrides }).then((result) => ({ result, records }));
};

describe("runDataset", () => {
  it("publishes the pages, the item index, the version's index and then the head naming them", async () => {
    const { result } = await run(keyedDataset("pub-keyed", () => [10, 20, 30]));
    expect(result).toMatchObject({ outcome: "ok", reason: null, rows: 3, code: null });

    const { head, current: info } = (await readPublished(store, "pub-keyed"))!;
    expect(head.current).toBe(result.version);
    expect(head.versions[0]).toEqual({ version: result.version, hash: result.hash, rows: 3, bytes: result.bytes, generated_at: info!.generated_at });
    expect(info).toMatchObject({ version: result.version, hash: result.hash, rows: 3, bytes: result.bytes, key: "id", layout: "content", previous: null });
    expect(info!.columns).toEqual([
      { name: "id", type: "String", nullable: false },
      { name: "value", type: "Float64", nullable: false },
    ]);
    expect(info!.pages).toEqual([{ first_row: 0, rows: 3, bytes: result.bytes, sha256: result.hash }]);
    expect(await store.head(versionIndexKey("pub-keyed", result.version!))).not.toBeNull();

    const page = (await store.get(pageObjectKey("pub-keyed", result.hash!)))!;
    const text = await page.text();
    expect(JSON.parse(text)).toEqual([
      { id: "k0", value: 10 },
      { id: "k1", value: 20 },
      { id: "k2", value: 30 },
    ]);
    expect(sha256Hex(text)).toBe(result.hash);

    // The item index says where each record is in its page; the record is not copied.
    const items = info!.items as { kind: "index"; shards: string[] };
    const shard = (await store.get(itemShardObjectKey("pub-keyed", items.shards[itemShardOf("k1", items.shards.length)]!)))!;
    const at = findItemEntry(await shard.text(), "k1")!;
    expect(text.slice(at.offset, at.offset + at.length)).toBe('{"id":"k1","value":20.0}');
  });

  it("publishes nothing when the content equals the current version", async () => {
    const definition = keyedDataset("pub-unchanged", () => [1, 2]);
    const first = await run(definition);
    const before = await store.head(manifestObjectKey("pub-unchanged"));
    const keysBefore = await listKeys(store, "datasets/pub-unchanged/");

    const manifestBefore = (await readManifest(store, "pub-unchanged"))!.manifest;
    const second = await run(definition);
    expect(second.result).toMatchObject({ outcome: "unchanged", version: first.result.version, hash: first.result.hash, rows: 2 });
    expect(second.result.reason).toBe(`same content as ${first.result.version}`);
    expect(before).not.toBeNull();
    expect(await listKeys(store, "datasets/pub-unchanged/")).toEqual(keysBefore);
    // Only the time the content was last confirmed moves (what freshness is measured from).
    const manifestAfter = (await readManifest(store, "pub-unchanged"))!.manifest;
    expect({ ...manifestAfter, checked_at: null }).toEqual({ ...manifestBefore, checked_at: null });
    expect(Date.parse(manifestAfter.checked_at!)).toBeGreaterThan(Date.parse(manifestBefore.checked_at!));
  });

  it("records the dataset's freshness budget in the manifest, on a publish and on an unchanged run", async () => {
    const values = () => [7, 8];
    const first = await run(defineDataset({ name: "pub-budget", schedule: "*/5 * * * *", maxAgeSeconds: 600, build: (ctx) => ctx.pl.DataFrame({ v: values() }) }));
    expect(first.result.outcome).toBe("ok");
    const published = (await readManifest(store, "pub-budget"))!.manifest;
    expect(published.max_age_seconds).toBe(600);

    // Same content, a new budget (the definition changed): the unchanged run records it too.
    const second = await run(defineDataset({ name: "pub-budget", schedule: "*/5 * * * *", build: (ctx) => ctx.pl.DataFrame({ v: values() }) }));
    expect(second.result.outcome).toBe("unchanged");
    const confirmed = (await readManifest(store, "pub-budget"))!.manifest;
    expect(confirmed.max_age_seconds).toBe(900);
    expect(confirmed.current).toBe(published.current);
    expect(Date.parse(confirmed.checked_at!)).toBeGreaterThan(Date.parse(published.checked_at!));
  });

  it("publishes changed content as a new current version and keeps the old one in the history", async () => {
    let values = [1, 2];
    const definition = keyedDataset("pub-changed", () => values);
    const first = await run(definition);
    values = [1, 3];
    const second = await run(definition);
    expect(second.result.outcome).toBe("ok");
    expect(second.result.version).not.toBe(first.result.version);
    const { manifest } = (await readManifest(store, "pub-changed"))!;
    expect(manifest.current).toBe(second.result.version);
    expect(manifest.versions.map((v) => v.version)).toEqual([second.result.version, first.result.version]);
    expect(await store.head(pageObjectKey("pub-changed", first.result.hash!))).not.toBeNull();
  });

  it("gives the build the current version as ctx.previous", async () => {
    const seen: (string | null)[] = [];
    let values = [1];
    const definition = keyedDataset("pub-previous", () => values, (ctx) => seen.push(ctx.previous?.version ?? null));
    const first = await run(definition);
    values = [2];
    await run(definition);
    expect(seen).toEqual([null, first.result.version]);
  });

  it("publishes nothing when the build throws, and removes the temp dir it used", async () => {
    let tempDir = "";
    const definition = defineDataset({
      name: "pub-throws",
      schedule: "* * * * *",
      async build(ctx) {
        tempDir = ctx.tempDir;
        const { writeFile } = await import("node:fs/promises");
        await writeFile(`${ctx.tempDir}/scratch.bin`, "partial");
        throw new Error("source exploded\nwith a stack-like second line");
      },
    });
    const { result, records } = await run(definition);
    expect(result).toMatchObject({ outcome: "failed", code: "build-failed", version: null, hash: null });
    expect(result.reason).toBe("build failed: source exploded | with a stack-like second line");
    expect(result.reason).not.toContain("\n");
    expect(await listKeys(store, "datasets/pub-throws/")).toEqual([]);
    expect(tempDir.startsWith(tempRoot.dir)).toBe(true);
    expect(existsSync(tempDir)).toBe(false);
    expect(records.some((r) => r.level === "error" && r.code === "build-failed")).toBe(true);
  });

  it("keeps the previous version current when a later build throws", async () => {
    let fail = false;
    const definition = keyedDataset("pub-keeps", () => [5], () => {
      if (fail) throw new Error("boom");
    });
    const first = await run(definition);
    const before = await listKeys(store, "datasets/pub-keeps/");
    fail = true;
    expect((await run(definition)).result.outcome).toBe("failed");
    expect((await readManifest(store, "pub-keeps"))!.manifest.current).toBe(first.result.version);
    expect(await listKeys(store, "datasets/pub-keeps/")).toEqual(before);
  });

  it("streams a LazyFrame build into an Arrow file in the run's temp dir instead of collecting it", async () => {
    const dir = await makeTempDir("lazy-build");
    try {
      const lazy = pl.DataFrame({ id: ["a", "b", "c"], value: [3, 1, 2] }).lazy().sort("value");
      const definition = defineDataset({ name: "pub-lazy", schedule: "* * * * *", build: () => lazy });
      const ctx = { tempDir: dir.dir, signal: new AbortController().signal } as unknown as DatasetContext;
      const frame = await buildFrame(definition, ctx);
      expect(existsSync(`${dir.dir}/frame.arrow`)).toBe(true);
      expect((await frame.collect()).toRecords()).toEqual([{ id: "b", value: 1 }, { id: "c", value: 2 }, { id: "a", value: 3 }]);
      const failing = defineDataset({ name: "pub-lazy-bad", schedule: "* * * * *", build: () => lazy.select(pl.col("id").cast(pl.Int64, true)) });
      await expect(buildFrame(failing, ctx)).rejects.toMatchObject({ code: "build-failed" });
    } finally {
      await dir.remove();
    }
  });

  it("fails a build that returns something other than a DataFrame", async () => {
    const definition = defineDataset({ name: "pub-notframe", schedule: "* * * * *", build: () => ({ rows: [] }) as unknown as pl.DataFrame });
    const { result } = await run(definition);
    expect(result).toMatchObject({ outcome: "failed", code: "build-failed", reason: "build must return a polars DataFrame or LazyFrame" });
  });

  it("rejects a snapshot that fails a gate and publishes nothing", async () => {
    let values = [1, 2, 3, 4];
    const definition = defineDataset({
      name: "pub-gated",
      schedule: "* * * * *",
      key: "id",
      gates: { maxRowDropRatio: 0.5 },
      build: ({ pl: polars }) => polars.DataFrame({ id: values.map(String), v: values }),
    });
    const first = await run(definition);
    const keysBefore = await listKeys(store, "datasets/pub-gated/");
    values = [1];
    const { result } = await run(definition);
    expect(result).toMatchObject({ outcome: "rejected", code: "gate-rejected", rows: 1, version: null });
    expect(result.reason).toMatch(/^gate: 1 rows is a 75\.0% drop from 4, the most rows among the last 5 versions/);
    expect((await readManifest(store, "pub-gated"))!.manifest.current).toBe(first.result.version);
    expect(await listKeys(store, "datasets/pub-gated/")).toEqual(keysBefore);
  });

  it("rejects a keyed snapshot with duplicate keys", async () => {
    const definition = defineDataset({ name: "pub-dupes", schedule: "* * * * *", key: "id", build: ({ pl: polars }) => polars.DataFrame({ id: ["a", "a"] }) });
    const { result } = await run(definition);
    expect(result).toMatchObject({ outcome: "rejected", code: "gate-rejected" });
    expect(await listKeys(store, "datasets/pub-dupes/")).toEqual([]);
  });

  it("refuses a shard with a decoded key twice before uploading anything (two JSON values, one item key)", async () => {
    // polars' distinct count proves plain keys unique; a decoded key (here a float) is checked again
    // at upload. Two floats reading as one key cannot come out of polars (it counts 0.0 and -0.0 as
    // one), so the shard is doubled by hand, as a stand-in for any such pair.
    const rowsDir = await makeTempDir("decoded-dupes");
    try {
      const { plan, columns } = await serializeFrame(pl.DataFrame({ id: [1.5, 2.5], v: [1, 2] }), { key: "id", keep: rowsDir.dir });
      expect(plan.decodedKeyShards.size).toBeGreaterThan(0);
      const shard = [...plan.decodedKeyShards][0]!;
      const { appendFileSync, readFileSync } = await import("node:fs");
      appendFileSync(plan.shardFiles[shard]!, readFileSync(plan.shardFiles[shard]!));
      const published = publishVersion(store, { dataset: "pub-decoded-dupes", plan, columns, key: "id", generatedAt: new Date() });
      await expect(published).rejects.toMatchObject({ code: "gate-rejected", message: expect.stringMatching(/duplicate item key "(1|2)\.5"/) });
      expect(await listKeys(store, "datasets/pub-decoded-dupes/")).toEqual([]);
    } finally {
      await rowsDir.remove();
    }
  });

  it("a forced run publishes unchanged content as a new current version", async () => {
    const definition = keyedDataset("pub-forced", () => [5, 6]);
    const first = await run(definition);
    const forced = await run(definition, { force: true });
    expect(forced.result).toMatchObject({ outcome: "ok", hash: first.result.hash });
    expect(forced.result.version).not.toBe(first.result.version);
    const { manifest } = (await readManifest(store, "pub-forced"))!;
    expect(manifest.current).toBe(forced.result.version);
    expect(manifest.versions).toHaveLength(2);
  });

  it("a forced run skips the row gates but still refuses duplicate keys", async () => {
    let ids = ["a", "b", "c", "d"];
    const definition = defineDataset({
      name: "pub-forced-gates",
      schedule: "* * * * *",
      key: "id",
      gates: { maxRowDropRatio: 0.5 },
      build: ({ pl: polars }) => polars.DataFrame({ id: ids }),
    });
    await run(definition);
    ids = ["a"];
    expect((await run(definition)).result.outcome).toBe("rejected");
    expect((await run(definition, { force: true })).result).toMatchObject({ outcome: "ok", rows: 1 });
    ids = ["a", "a"];
    expect((await run(definition, { force: true })).result).toMatchObject({ outcome: "rejected", code: "gate-rejected" });
  });

  it("removes its temp dir after a successful run", async () => {
    let tempDir = "";
    await run(keyedDataset("pub-tempdir", () => [1], (ctx) => (tempDir = ctx.tempDir)));
    expect(tempDir).not.toBe("");
    expect(existsSync(tempDir)).toBe(false);
    expect(await readdir(tempRoot.dir)).toEqual([]);
  });

  it("opens and closes its own store when none is given", async () => {
    const own = await makeTempDir("run-own-store");
    try {
      const { log } = memoryLogger();
      const result = await runDataset(keyedDataset("pub-own", () => [1]), { config: runConfig(own.dir, tempRoot.dir), log, notify: false });
      expect(result.outcome).toBe("ok");
      const reader = await openLocalTestStore(own.dir);
      try {
        expect((await readManifest(reader, "pub-own"))!.manifest.current).toBe(result.version);
      } finally {
        await reader.close();
      }
    } finally {
      await own.remove();
    }
  });
});

describe("concurrent publishers", () => {
  /** Lets `count` builds proceed only once all have started (so all read the same manifest). */
  function barrier(count: number) {
    let waiting = 0;
    let release!: () => void;
    const all = new Promise<void>((resolve) => (release = resolve));
    return () => {
      if (++waiting === count) release();
      return all;
    };
  }

  it("both succeed with different content, and neither version is lost", async () => {
    const wait = barrier(2);
    const a = keyedDataset("race-diff", () => [1], wait);
    const b = keyedDataset("race-diff", () => [2], wait);
    const [ra, rb] = await Promise.all([run(a), run(b)]);
    expect([ra.result.outcome, rb.result.outcome]).toEqual(["ok", "ok"]);
    const { manifest } = (await readManifest(store, "race-diff"))!;
    expect(manifest.versions.map((v) => v.version).sort()).toEqual([ra.result.version, rb.result.version].sort());
    expect([ra.result.version, rb.result.version]).toContain(manifest.current);
    // One of them lost the first swap and retried.
    expect([...ra.records, ...rb.records].some((r) => r.event === "head changed concurrently; retrying")).toBe(true);
  });

  it("with the same content, one publishes and the other reports unchanged, leaving one version", async () => {
    const wait = barrier(2);
    const a = keyedDataset("race-same", () => [7], wait);
    const [ra, rb] = await Promise.all([run(a), run(a)]);
    expect([ra.result.outcome, rb.result.outcome].sort()).toEqual(["ok", "unchanged"]);
    expect(ra.result.version).toBe(rb.result.version);
    const { manifest } = (await readManifest(store, "race-same"))!;
    expect(manifest.versions).toHaveLength(1);
    const prefixes = new Set((await listKeys(store, "datasets/race-same/versions/")).map((key) => key.split("/")[3]));
    expect([...prefixes]).toEqual([manifest.current]);
    expect(await store.head(pageObjectKey("race-same", ra.result.hash!))).not.toBeNull();
  });

  it("a publisher holding a stale manifest retries on top of the newer one instead of overwriting it", async () => {
    const rowsDir = await makeTempDir("race-stale");
    const publish = async (value: number, head?: Awaited<ReturnType<typeof readVersioned>>, attempts?: number) => {
      const { plan, columns } = await serializeFrame(pl.DataFrame({ id: ["x"], v: [value] }), { keep: `${rowsDir.dir}/${value}` });
      return publishVersion(store, { dataset: "race-stale", plan, columns, key: null, generatedAt: new Date(Date.now() + value) }, { head, attempts, collect: false });
    };
    const v1 = await publish(1);
    const stale = await readVersioned(store, "race-stale");
    const v2 = await publish(2);
    const v3 = await publish(3, stale);
    expect(v3.outcome).toBe("ok");
    const { manifest } = (await readManifest(store, "race-stale"))!;
    expect(manifest.versions.map((v) => v.version)).toEqual([v3.version, v2.version, v1.version]);

    // Out of attempts, it loses cleanly: an error, the head untouched, its version's own objects
    // removed. The page it uploaded is left to the collector (another publish may reference it).
    const keysBefore = await listKeys(store, "datasets/race-stale/");
    const etagBefore = (await store.head(manifestObjectKey("race-stale")))!.etag;
    await expect(publish(4, stale, 1)).rejects.toMatchObject({ code: "conflict", exitCode: 7 });
    expect((await store.head(manifestObjectKey("race-stale")))!.etag).toBe(etagBefore);
    const left = (await listKeys(store, "datasets/race-stale/")).filter((key) => !keysBefore.includes(key));
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^datasets\/race-stale\/pages\/[0-9a-f]{64}\.json$/);
    const collected = await collectGarbage(store, "race-stale", { now: () => new Date(Date.now() + ORPHAN_MIN_AGE_MS + 1000) });
    expect(collected?.deleted).toEqual(left);
    expect(await listKeys(store, "datasets/race-stale/")).toEqual(keysBefore);
    await rowsDir.remove();
  });
});

describe("lease fencing", () => {
  const ttlMs = 60_000;

  it("publishes under the lease it holds and records its token in the head", async () => {
    const lease = await acquireLease(store, "fence-held", "scheduler-a", { ttlMs });
    expect(lease.acquired).toBe(true);
    const token = lease.acquired ? lease.grant.token : 0;
    const { result } = await run(keyedDataset("fence-held", () => [1, 2]), { leaseToken: token });
    expect(result.outcome).toBe("ok");
    expect((await readManifest(store, "fence-held"))!.manifest.lease_token).toBe(token);
  });

  it("refuses to publish once another scheduler took the lease over, and loses nothing", async () => {
    const first = await acquireLease(store, "fence-taken", "scheduler-a", { ttlMs });
    const stale = first.acquired ? first.grant.token : 0;
    const published = await run(keyedDataset("fence-taken", () => [1]), { leaseToken: stale });
    expect(published.result.outcome).toBe("ok");
    // scheduler-a stalls past its lease; scheduler-b takes the dataset over.
    const taken = await acquireLease(store, "fence-taken", "scheduler-b", { ttlMs, now: new Date(Date.now() + 2 * ttlMs) });
    expect(taken).toMatchObject({ acquired: true, takeover: true });
    const before = await readManifest(store, "fence-taken");
    const late = await run(keyedDataset("fence-taken", () => [1, 2, 3]), { leaseToken: stale });
    expect(late.result).toMatchObject({ outcome: "failed", code: "conflict" });
    expect(late.result.reason).toMatch(/lease was taken over/);
    expect((await readManifest(store, "fence-taken"))!.etag).toBe(before!.etag);
    const fresh = await run(keyedDataset("fence-taken", () => [1, 2, 3]), { leaseToken: taken.acquired ? taken.grant.token : 0 });
    expect(fresh.result.outcome).toBe("ok");
  });

  it("refuses a token older than the one the head records, even when the lease object says otherwise", async () => {
    const lease = await acquireLease(store, "fence-head", "scheduler-a", { ttlMs });
    const token = lease.acquired ? lease.grant.token : 0;
    expect((await run(keyedDataset("fence-head", () => [1]), { leaseToken: token + 1 })).result.outcome).toBe("failed");
    // A lease object rewritten by hand to an old token: the head's record still fences the run out.
    await store.put(leaseObjectKey("fence-head"), JSON.stringify({ ...(await readLease(store, "fence-head")), token: token + 5 }));
    expect((await run(keyedDataset("fence-head", () => [1]), { leaseToken: token + 5 })).result.outcome).toBe("ok");
    await store.put(leaseObjectKey("fence-head"), JSON.stringify({ ...(await readLease(store, "fence-head")), token: token + 2 }));
    const late = await run(keyedDataset("fence-head", () => [1, 2]), { leaseToken: token + 2 });
    expect(late.result).toMatchObject({ outcome: "failed", code: "conflict" });
    expect(late.result.reason).toMatch(/newer lease \(token \d+\) published since/);
    expect((await readManifest(store, "fence-head"))!.manifest.lease_token).toBe(token + 5);
  });
});

describe("the publish notice", () => {
  let server: Server;
  let edgeUrl: string;
  let status = 204;
  const received: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        received.push({ method: request.method, url: request.url, headers: request.headers, body });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    edgeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it("is POSTed with the bearer token and {dataset, version} after a new version", async () => {
    received.length = 0;
    status = 204;
    const { result } = await run(keyedDataset("notice-ok", () => [1]), { notify: true, config: { ...config, edgeUrl, token: "s3cret" } });
    expect(result.outcome).toBe("ok");
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: "POST", url: "/internal/v1/publish-notice" });
    expect(received[0]!.headers.authorization).toBe("Bearer s3cret");
    expect(received[0]!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(received[0]!.body)).toEqual({ dataset: "notice-ok", version: result.version });
  });

  it("is not sent when the content is unchanged", async () => {
    const definition = keyedDataset("notice-unchanged", () => [1]);
    await run(definition);
    received.length = 0;
    const { result } = await run(definition, { notify: true, config: { ...config, edgeUrl } });
    expect(result.outcome).toBe("unchanged");
    expect(received).toHaveLength(0);
  });

  it("does not fail the run when the edge refuses it; the run logs a warning", async () => {
    received.length = 0;
    status = 500;
    const { result, records } = await run(keyedDataset("notice-refused", () => [1]), { notify: true, config: { ...config, edgeUrl } });
    expect(result.outcome).toBe("ok");
    expect(received).toHaveLength(1);
    const warning = records.find((r) => r.level === "warn");
    expect(warning?.event).toMatch(/publish notice failed/);
    expect(JSON.stringify(warning)).toMatch(/answered 500/);
  });

  it("does not fail the run when the edge is unreachable", async () => {
    const { result, records } = await run(keyedDataset("notice-down", () => [1]), { notify: true, config: { ...config, edgeUrl: "http://127.0.0.1:9" } });
    expect(result.outcome).toBe("ok");
    expect(records.some((r) => r.level === "warn")).toBe(true);
  });
});
