/**
 * Crash safety of the publish: a run child killed with SIGKILL while it uploads pages publishes
 * nothing; the manifest still names the previous version, which keeps being served, and the next
 * run publishes normally. Against the S3 test server, whose request log shows the uploads.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestObjectKey } from "../../contract/keys.ts";
import { collectGarbage, ORPHAN_MIN_AGE_MS } from "../../contract/protocol/collect.ts";
import { readHead, requireIndex } from "../../contract/protocol/manifests.ts";
import { bodySegments, objectKeysOf, pageKeyOf } from "../../contract/version-index.ts";
import { listKeys } from "../../contract/storage.ts";
import type { ObjectStore } from "../../compute/storage/index.ts";
import { sha256Hex } from "../../compute/storage/hash.ts";
import { readPublished } from "./helpers.ts";
import { openS3Store } from "../../compute/storage/s3.ts";
import { S3_TEST_BUCKET, S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from "../storage/s3-server.ts";
import { isAlive, waitFor } from "../support/processes.ts";
import { FIXTURE_DATASETS, makeTempDir } from "./helpers.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
let server: S3TestServer;
let temp: Awaited<ReturnType<typeof makeTempDir>>;

beforeAll(async () => {
  server = await startS3TestServer();
  temp = await makeTempDir("kill");
});
afterAll(async () => {
  await server?.close();
  await temp?.remove();
});

function runChild(value: string, dataset = "fixture-large", env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["compute/run/child.ts", dataset], {
    cwd: REPO,
    detached: true,
    stdio: "ignore",
    env: {
      ...process.env,
      EDGESNAP_STORE: "s3",
      EDGESNAP_S3_ENDPOINT: server.endpoint,
      EDGESNAP_S3_BUCKET: S3_TEST_BUCKET,
      EDGESNAP_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      EDGESNAP_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
      EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
      EDGESNAP_TOKEN: "kill-test-token-0123456789abcdef01",
      EDGESNAP_DATASETS: FIXTURE_DATASETS,
      EDGESNAP_TEMP_ROOT: temp.dir,
      FIXTURE_VALUE: value,
      ...env,
    },
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited };
}

describe("a run killed during its page uploads", () => {
  it("publishes nothing: the previous version stays current, and the next run publishes", async () => {
    const store = await openS3Store({ endpoint: server.endpoint, bucket: S3_TEST_BUCKET, ...S3_TEST_CREDENTIALS });
    const first = runChild("one");
    expect(await first.exited).toBe(0);
    const before = (await readPublished(store, "fixture-large"))!;
    expect(before.current!.pages.length).toBeGreaterThan(2);
    const manifestEtag = (await store.head(manifestObjectKey("fixture-large")))!.etag;

    // Slow the page uploads down so the kill lands between them, and kill after the first arrives.
    server.inject({ match: ({ method, url }) => method === "PUT" && url.includes("/pages/"), respond: 503, times: 3 });
    const from = server.requests.length;
    const second = runChild("two");
    await waitFor("a page upload of the second run", async () => (server.requests.slice(from).some((r) => r.method === "PUT" && r.url.includes("/pages/")) ? true : undefined), 60_000, 20);
    process.kill(-second.child.pid!, "SIGKILL");
    await second.exited;
    expect(isAlive(second.child.pid!)).toBe(false);
    server.clearFaults();

    const after = (await readPublished(store, "fixture-large"))!;
    expect(after.head.current).toBe(before.head.current);
    expect((await store.head(manifestObjectKey("fixture-large")))!.etag).toBe(manifestEtag);
    expect(server.requests.slice(from).some((r) => r.method === "PUT" && r.url.includes("manifest.json"))).toBe(false);

    const third = runChild("three");
    expect(await third.exited).toBe(0);
    const latest = (await readPublished(store, "fixture-large"))!;
    expect(latest.head.current).not.toBe(before.head.current);
    expect(latest.head.versions.map((v) => v.version)).toContain(before.head.current);
    await store.close();
  }, 180_000);
});

/**
 * What a reader relies on, checked object by object: every object a retained version references
 * is stored, and the current version's pages join into its body, byte for byte (its sha256).
 */
async function expectServable(store: ObjectStore, dataset: string): Promise<string[]> {
  const read = (await readHead(store, dataset))!;
  const stored = new Set(await listKeys(store, `datasets/${dataset}/`));
  const referenced: string[] = [];
  for (const summary of read.value.head.versions) {
    const index = await requireIndex(store, dataset, summary.version, read.value);
    const missing = objectKeysOf(index).filter((key) => !stored.has(key));
    expect(missing, `${summary.version} references missing objects`).toEqual([]);
    referenced.push(...objectKeysOf(index));
  }
  const current = await requireIndex(store, dataset, read.value.head.current!, read.value);
  const parts = await Promise.all(
    bodySegments(current.pages).map(async (segment) => {
      const object = (await store.get(pageKeyOf(current, segment.page), { range: { offset: segment.offset, length: segment.length } }))!;
      return Buffer.concat([Buffer.from(segment.before), Buffer.from(await new Response(object.body).arrayBuffer())]);
    }),
  );
  expect(sha256Hex(Buffer.concat(parts))).toBe(current.hash);
  return [...new Set(referenced)];
}

describe("a run killed between its version's index and its head", () => {
  it("leaves the previous version current and whole; the next run publishes and shares its pages", async () => {
    const store = await openS3Store({ endpoint: server.endpoint, bucket: S3_TEST_BUCKET, ...S3_TEST_CREDENTIALS });
    expect(await runChild("A", "fixture-growing").exited).toBe(0);
    const before = (await readPublished(store, "fixture-growing"))!;
    // The head cannot be written: the run gets as far as its index, then is killed.
    server.inject({ match: ({ method, url }) => method === "PUT" && url.includes("fixture-growing/manifest.json"), respond: 503, times: 1000 });
    const from = server.requests.length;
    const second = runChild("B", "fixture-growing");
    await waitFor("the index upload of the second run", async () => (server.requests.slice(from).some((r) => r.method === "PUT" && r.url.includes("/index.json") && r.status === 200) ? true : undefined), 60_000, 10);
    process.kill(-second.child.pid!, "SIGKILL");
    await second.exited;
    server.clearFaults();
    expect((await readPublished(store, "fixture-growing"))!.head.current).toBe(before.head.current);
    await expectServable(store, "fixture-growing");

    expect(await runChild("C", "fixture-growing").exited).toBe(0);
    const after = (await readPublished(store, "fixture-growing"))!;
    expect(after.head.current).not.toBe(before.head.current);
    // Only the last page differs from the version before it.
    expect(after.current!.pages.slice(0, -1).map((p) => p.sha256)).toEqual(before.current!.pages.slice(0, -1).map((p) => p.sha256));
    await expectServable(store, "fixture-growing");
    await store.close();
  }, 180_000);
});

describe("a run killed while it collects what the versions it dropped left", () => {
  it("leaves every retained version whole; the next run waits out the lock, publishes and collects", async () => {
    const store = await openS3Store({ endpoint: server.endpoint, bucket: S3_TEST_BUCKET, ...S3_TEST_CREDENTIALS });
    // One retained version: each publish drops the one before and collects its last page.
    const env = { FIXTURE_RETAIN: "1", EDGESNAP_COLLECT_LOCK_MS: "4000" };
    const dataset = "fixture-growing";
    await store.delete(await listKeys(store, `datasets/${dataset}/`));
    expect(await runChild("P", dataset, env).exited).toBe(0);
    server.inject({ match: ({ method, url }) => method === "POST" && url.includes("?delete"), respond: 503, times: 1000 });
    const from = server.requests.length;
    const second = runChild("Q", dataset, env);
    await waitFor("the collection's first delete", async () => (server.requests.slice(from).some((r) => r.method === "POST" && r.url.includes("?delete")) ? true : undefined), 60_000, 10);
    process.kill(-second.child.pid!, "SIGKILL");
    await second.exited;
    server.clearFaults();
    const killed = (await readPublished(store, dataset))!;
    expect(killed.head.versions).toHaveLength(1);
    expect(killed.head.gc.locked_until).not.toBeNull();
    await expectServable(store, dataset);

    expect(await runChild("R", dataset, env).exited).toBe(0);
    const after = (await readPublished(store, dataset))!;
    expect(after.head.gc.locked_until).toBeNull();
    const referenced = await expectServable(store, dataset);
    // What the killed collection did not delete is an orphan now, collected once old enough.
    await collectGarbage(store, dataset, { now: () => new Date(Date.now() + ORPHAN_MIN_AGE_MS + 1000) });
    expect((await listKeys(store, `datasets/${dataset}/`)).sort()).toEqual([...referenced, manifestObjectKey(dataset)].sort());
    await store.close();
  }, 180_000);
});
