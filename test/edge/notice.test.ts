/**
 * The publish notice and the cron reconcile: both make the current version's hot copies in KV
 * (immutable pages and shards only) and rebuild the stored catalog, so a lost notice heals.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CATALOG_OBJECT_KEY, datasetPrefix, hotCopiesDoneKey, itemShardObjectKey, versionIndexKey } from "../../contract/index.ts";
import { createApp } from "../../edge/app.ts";
import { openEdgeStorage } from "../../edge/env.ts";
import worker from "../../edge/index.ts";
import { HOT_COPY_LIMIT_BYTES, HOT_COPY_MARKER_TTL_SECONDS, HOT_COPY_TTL_SECONDS } from "../../edge/storage/kv.ts";
import { HOT_COPY_VERSION_LIMIT_BYTES, hotCopyKeys, reconcileAll } from "../../edge/sync/refresh.ts";
import { airportRecords, BASE, pageKey, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const NOTICE_URL = `${BASE}/internal/v1/publish-notice`;

function notice(body: unknown, headers: Record<string, string> = { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef" }): Promise<Response> {
  return SELF.fetch(NOTICE_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function runScheduled(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function storedCatalog(): Promise<{ name: string; version: string }[]> {
  return (JSON.parse(await (await env.SNAPSHOTS.get(CATALOG_OBJECT_KEY))!.text()) as { datasets: { name: string; version: string }[] }).datasets;
}

describe("POST /internal/v1/publish-notice", () => {
  it("copies the index, every page and every item index shard of the current version into KV and rebuilds the stored catalog", async () => {
    const dataset = uniqueDataset("notice");
    const { info, pages } = await publishFakeVersion(env, { dataset, records: airportRecords(30), key: "iata", shards: 4, pageBytes: 400 });
    expect(pages.length).toBeGreaterThan(1);
    const res = await notice({ dataset, version: info.version });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, dataset, current: info.version });
    for (const [index, page] of pages.entries()) expect(await env.SNAPSHOT_KV.get(pageKey(info, index + 1))).toBe(page);
    const shards = (info.items as { shards: string[] }).shards;
    expect(shards).toHaveLength(4);
    for (const sha of shards) expect(await env.SNAPSHOT_KV.get(itemShardObjectKey(dataset, sha))).not.toBeNull();
    expect(await env.SNAPSHOT_KV.get(versionIndexKey(dataset, info.version))).not.toBeNull();
    expect((await storedCatalog()).find((d) => d.name === dataset)?.version).toBe(info.version);
  });

  it("gives hot copies an expiry, and their marker an earlier one, so retired versions' copies go by themselves", async () => {
    const dataset = uniqueDataset("ttl");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const before = Date.now() / 1000;
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    const { keys } = await env.SNAPSHOT_KV.list({ prefix: datasetPrefix(dataset) });
    const expiry = (name: string) => keys.find((k) => k.name === name)?.expiration ?? 0;
    expect(expiry(pageKey(info)) - before).toBeGreaterThan(HOT_COPY_TTL_SECONDS - 60);
    expect(expiry(hotCopiesDoneKey(dataset, info.version)) - before).toBeGreaterThan(HOT_COPY_MARKER_TTL_SECONDS - 60);
    expect(expiry(hotCopiesDoneKey(dataset, info.version))).toBeLessThan(expiry(pageKey(info)));
  });

  it("keeps a page above KV's value limit out of KV and streams it from R2", async () => {
    const dataset = uniqueDataset("large");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ i: 0, filler: "x".repeat(HOT_COPY_LIMIT_BYTES + 10) }, { i: 1 }] });
    expect(info.pages[0]!.bytes).toBeGreaterThan(HOT_COPY_LIMIT_BYTES);
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    expect(await env.SNAPSHOT_KV.get(pageKey(info))).toBeNull();
    const res = await SELF.fetch(`${BASE}/v1/datasets/${dataset}`);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("Content-Length"))).toBe(info.bytes);
    let received = 0;
    for await (const chunk of res.body!) received += chunk.byteLength;
    expect(received).toBe(info.bytes);
  });

  it("copies only the index of a version above the size limit (R2 and the edge cache serve its pages)", async () => {
    const dataset = uniqueDataset("big");
    const { info } = await publishFakeVersion(env, { dataset, records: airportRecords(20), key: "iata", shards: 2, pageBytes: 300 });
    expect(hotCopyKeys(info).length).toBe(1 + info.pages.length + 2);
    expect(hotCopyKeys({ ...info, bytes: HOT_COPY_VERSION_LIMIT_BYTES + 1 })).toEqual([versionIndexKey(dataset, info.version)]);
  });

  it("does not copy again a page an earlier version already copied: pages are shared", async () => {
    const dataset = uniqueDataset("shared-copy");
    const records = airportRecords(30);
    const first = await publishFakeVersion(env, { dataset, records, pageBytes: 300 });
    expect((await notice({ dataset, version: first.info.version })).status).toBe(200);
    const kept = pageKey(first, 1);
    await env.SNAPSHOT_KV.put(kept, (await env.SNAPSHOT_KV.get(kept))!, { metadata: { marker: 1 }, expirationTtl: HOT_COPY_TTL_SECONDS });
    const second = await publishFakeVersion(env, { dataset, records: [...records, { iata: "ZZZ", name: "new", flights: 1, mean_delay: 0 }], pageBytes: 300 });
    expect(pageKey(second, 1)).toBe(kept);
    expect((await notice({ dataset, version: second.info.version })).status).toBe(200);
    expect((await env.SNAPSHOT_KV.getWithMetadata(kept)).metadata).toEqual({ marker: 1 });
    expect(await env.SNAPSHOT_KV.get(pageKey(second, second.info.pages.length))).toBe(second.pages.at(-1));
  });

  it("copies nothing again for a repeated notice of the same version", async () => {
    const dataset = uniqueDataset("repeat");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    const key = pageKey(info);
    await env.SNAPSHOT_KV.put(key, (await env.SNAPSHOT_KV.get(key))!, { metadata: { marker: 1 } });
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    expect((await env.SNAPSHOT_KV.getWithMetadata(key)).metadata).toEqual({ marker: 1 });
  });

  it("rejects a missing or wrong token with 401 and changes nothing", async () => {
    const dataset = uniqueDataset("auth");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    for (const headers of [{} as Record<string, string>, { Authorization: "Bearer wrong-token" }, { Authorization: "Basic dGVzdC10b2tlbg==" }, { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef-longer" }]) {
      const res = await notice({ dataset, version: info.version }, headers);
      expect(res.status).toBe(401);
      expect(await errorCode(res)).toBe("unauthorized");
    }
    expect(await env.SNAPSHOT_KV.get(pageKey(info))).toBeNull();
  });

  it("answers 400 to a malformed body, 415 to a body that is not JSON and 404 to an unknown dataset or version", async () => {
    const dataset = uniqueDataset("bad-notice");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const notJson = await notice("{not json");
    expect(notJson.status).toBe(400);
    expect(await errorCode(notJson)).toBe("bad_request");
    expect((await notice({ dataset: "Bad Name", version: info.version })).status).toBe(400);
    expect((await notice({ dataset })).status).toBe(400);
    const form = await notice("dataset=x", { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    expect(await errorCode(form)).toBe("unsupported_media_type");
    const unknownDataset = await notice({ dataset: "never-published", version: info.version });
    expect(unknownDataset.status).toBe(404);
    expect(await errorCode(unknownDataset)).toBe("not_found");
    expect((await notice({ dataset, version: "20000101T000000000Z-00000000" })).status).toBe(404);
    const huge = await notice({ dataset, version: info.version, padding: "x".repeat(10_000) });
    expect(huge.status).toBe(413);
    expect(await errorCode(huge)).toBe("payload_too_large");
  });

  it("405s a GET with Allow: POST", async () => {
    const res = await SELF.fetch(NOTICE_URL);
    expect(res.status).toBe(405);
    expect(res.headers.get("Allow")).toBe("POST");
  });

  it("answers 503 when the token secret is not configured", async () => {
    const app = createApp();
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(NOTICE_URL, { method: "POST", headers: { Authorization: "Bearer " }, body: "{}" }),
      { ...env, EDGESNAP_TOKEN: "" },
      ctx,
    );
    expect(res.status).toBe(503);
    expect(await errorCode(res)).toBe("unavailable");
  });
});

describe("scheduled reconcile", () => {
  it("makes the hot copies a lost notice did not, and the catalog names the new version", async () => {
    const dataset = uniqueDataset("heal");
    const first = await publishFakeVersion(env, { dataset, records: airportRecords(4), key: "iata" });
    expect((await notice({ dataset, version: first.info.version })).status).toBe(200);
    const changed = airportRecords(4).map((r) => ({ ...r, flights: 7 }));
    const second = await publishFakeVersion(env, { dataset, records: changed, key: "iata" }); // notice lost
    expect(await env.SNAPSHOT_KV.get(pageKey(second))).toBeNull();
    // The current URL serves the new version at once anyway: it is resolved from R2.
    const item = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/items/A001`);
    expect(((await item.json()) as { flights: number }).flights).toBe(7);

    await runScheduled();

    expect(await env.SNAPSHOT_KV.get(pageKey(second))).toBe(second.body);
    expect(await env.SNAPSHOT_KV.get(itemShardObjectKey(dataset, (second.info.items as { shards: string[] }).shards[0]!))).not.toBeNull();
    expect((await storedCatalog()).find((d) => d.name === dataset)?.version).toBe(second.info.version);
  });

  it("re-copies a current version whose marker expired and leaves a marked one alone", async () => {
    const dataset = uniqueDataset("marker");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    await runScheduled();
    const key = pageKey(info);
    // A copy about to expire (as one made days ago would be): re-copied once the marker is gone.
    await env.SNAPSHOT_KV.put(key, "[\"stale copy\"]", { expirationTtl: 3600 });
    await runScheduled();
    expect(await env.SNAPSHOT_KV.get(key)).toBe("[\"stale copy\"]");
    await env.SNAPSHOT_KV.delete(hotCopiesDoneKey(dataset, info.version));
    await runScheduled();
    expect(await env.SNAPSHOT_KV.get(key)).toBe(JSON.stringify([{ a: 1 }]));
  });
});

describe("reconcileAll", () => {
  it("keeps reconciling other datasets when one has a missing object, and keeps it in the catalog", async () => {
    const broken = uniqueDataset("a-broken");
    const healthy = uniqueDataset("z-healthy");
    const b = await publishFakeVersion(env, { dataset: broken, records: airportRecords(3), key: "iata", shards: 1 });
    await env.SNAPSHOTS.delete(itemShardObjectKey(broken, (b.info.items as { shards: string[] }).shards[0]!));
    const h = await publishFakeVersion(env, { dataset: healthy, records: [{ a: 1 }] });
    const report = await reconcileAll(openEdgeStorage(env));
    expect(report.errors.map((e) => e.dataset)).toContain(broken);
    expect(report.errors.find((e) => e.dataset === broken)?.error).toMatch(/items\/[0-9a-f]{64}\.tsv is named by the index of .* but missing/);
    expect(await env.SNAPSHOT_KV.get(pageKey(h))).not.toBeNull();
    expect(await env.SNAPSHOT_KV.get(hotCopiesDoneKey(broken, b.info.version))).toBeNull();
    expect((await storedCatalog()).map((d) => d.name)).toEqual(expect.arrayContaining([broken, healthy]));
  });

  it("sweeps the hot copies no retained version references, and keeps those a retained version shares", async () => {
    const dataset = uniqueDataset("sweep");
    const records = airportRecords(30);
    const versions = [];
    for (let n = 0; n < 3; n++) {
      const published = await publishFakeVersion(env, { dataset, records: [...records, { iata: `N${n}`, name: "new", flights: n, mean_delay: 0 }], pageBytes: 300, retain: 1 });
      expect((await notice({ dataset, version: published.info.version })).status).toBe(200);
      versions.push(published);
    }
    const [first, , last] = versions as [(typeof versions)[0], (typeof versions)[0], (typeof versions)[0]];
    const dropped = first.info.pages.map((p) => p.sha256).filter((sha) => !last.info.pages.some((q) => q.sha256 === sha));
    expect(dropped.length).toBeGreaterThan(0);
    const copies = async () => (await env.SNAPSHOT_KV.list({ prefix: datasetPrefix(dataset) })).keys.map((k) => k.name);
    expect(await copies()).toEqual(expect.arrayContaining([pageKey(first, first.info.pages.length)]));
    const report = await reconcileAll(openEdgeStorage(env), { sweep: (name) => name === dataset });
    expect(report.datasets.find((d) => d.dataset === dataset)?.swept).toBeGreaterThan(0);
    const kept = await copies();
    for (const sha of dropped) expect(kept.some((key) => key.includes(sha))).toBe(false);
    for (let n = 1; n <= last.info.pages.length; n++) expect(kept).toContain(pageKey(last, n));
  });

  it("writes the stored catalog only when it changes", async () => {
    const dataset = uniqueDataset("catalog-write");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    await reconcileAll(openEdgeStorage(env));
    const first = (await env.SNAPSHOTS.head(CATALOG_OBJECT_KEY))!;
    await reconcileAll(openEdgeStorage(env));
    expect((await env.SNAPSHOTS.head(CATALOG_OBJECT_KEY))!.etag).toBe(first.etag);
    expect((await env.SNAPSHOTS.head(CATALOG_OBJECT_KEY))!.uploaded.getTime()).toBe(first.uploaded.getTime());
  });
});

describe("configured CORS origins", () => {
  it("allows only the listed origins", async () => {
    const app = createApp();
    const configured = { ...env, CORS_ORIGINS: "https://a.example, https://b.example" } as unknown as Env;
    async function preflight(origin: string): Promise<Response> {
      const ctx = createExecutionContext();
      return app.fetch(
        new Request(`${BASE}/v1/datasets`, { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "GET" } }),
        configured,
        ctx,
      );
    }
    expect((await preflight("https://b.example")).headers.get("Access-Control-Allow-Origin")).toBe("https://b.example");
    expect((await preflight("https://evil.example")).headers.get("Access-Control-Allow-Origin")).toBeNull();
    const ctx = createExecutionContext();
    const read = await app.fetch(new Request(`${BASE}/healthz`), configured, ctx);
    expect(read.status).toBe(200);
    const listed = await app.fetch(new Request(`${BASE}/v1/datasets`, { headers: { Origin: "https://a.example" } }), configured, createExecutionContext());
    expect(listed.headers.get("Access-Control-Allow-Origin")).toBe("https://a.example");
    expect(listed.headers.get("Vary")).toContain("Origin");
  });
});
