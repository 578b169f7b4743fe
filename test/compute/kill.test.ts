/**
 * Crash safety of the publish: a run child killed with SIGKILL while it uploads pages publishes
 * nothing; the manifest still names the previous version, which keeps being served, and the next
 * run publishes normally. Against the S3 test server, whose request log shows the uploads.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestObjectKey } from "../../contract/keys.ts";
import { readManifest } from "../../contract/protocol/manifests.ts";
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

function runChild(value: string) {
  const child = spawn(process.execPath, ["compute/run/child.ts", "fixture-large"], {
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
    const before = (await readManifest(store, "fixture-large"))!;
    expect(before.value.versions[0]!.pages.length).toBeGreaterThan(2);
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

    const after = (await readManifest(store, "fixture-large"))!;
    expect(after.value.current).toBe(before.value.current);
    expect((await store.head(manifestObjectKey("fixture-large")))!.etag).toBe(manifestEtag);
    expect(server.requests.slice(from).some((r) => r.method === "PUT" && r.url.includes("manifest.json"))).toBe(false);

    const third = runChild("three");
    expect(await third.exited).toBe(0);
    const latest = (await readManifest(store, "fixture-large"))!;
    expect(latest.value.current).not.toBe(before.value.current);
    expect(latest.value.versions.map((v) => v.version)).toContain(before.value.current);
    await store.close();
  }, 180_000);
});
