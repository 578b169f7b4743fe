/**
 * The publish notice and the cron reconcile: both bring KV's hot copies in line with R2.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { bodyKvKey, CATALOG_KV_KEY, manifestKvKey, shardKvKey } from "../../contract/index.ts";
import { createApp } from "../../edge/app.ts";
import worker from "../../edge/index.ts";
import { airportRecords, BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const NOTICE_URL = `${BASE}/internal/v1/publish-notice`;

function notice(body: unknown, headers: Record<string, string> = { Authorization: "Bearer test-token" }): Promise<Response> {
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

describe("POST /internal/v1/publish-notice", () => {
  it("copies the manifest, body and every shard into KV and rebuilds the catalog", async () => {
    const dataset = uniqueDataset("notice");
    const { info, body, manifest } = await publishFakeVersion(env, { dataset, records: airportRecords(30), key: "iata", shards: 4 });
    const res = await notice({ dataset, version: info.version });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, dataset, current: info.version });
    expect(JSON.parse((await env.SNAPSHOT_KV.get(manifestKvKey(dataset)))!)).toEqual(manifest);
    expect(await env.SNAPSHOT_KV.get(bodyKvKey(dataset, info.version))).toBe(body);
    for (let s = 0; s < 4; s++) expect(await env.SNAPSHOT_KV.get(shardKvKey(dataset, info.version, s))).not.toBeNull();
    const catalog = JSON.parse((await env.SNAPSHOT_KV.get(CATALOG_KV_KEY))!) as { datasets: { name: string; version: string }[] };
    expect(catalog.datasets.find((d) => d.name === dataset)?.version).toBe(info.version);
  });

  it("keeps a body above KV's value limit out of KV and streams it from R2", async () => {
    const { KV_VALUE_LIMIT_BYTES } = await import("../../contract/index.ts");
    const dataset = uniqueDataset("large");
    const filler = "x".repeat(1000);
    const count = Math.ceil(KV_VALUE_LIMIT_BYTES / 1000) + 10;
    const records = Array.from({ length: count }, (_, i) => ({ i, filler }));
    const { info } = await publishFakeVersion(env, { dataset, records });
    expect(info.bytes).toBeGreaterThan(KV_VALUE_LIMIT_BYTES);
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    expect(await env.SNAPSHOT_KV.get(bodyKvKey(dataset, info.version))).toBeNull();
    expect(await env.SNAPSHOT_KV.get(manifestKvKey(dataset))).not.toBeNull();
    const res = await SELF.fetch(`${BASE}/v1/datasets/${dataset}`);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("Content-Length"))).toBe(info.bytes);
    let received = 0;
    for await (const chunk of res.body!) received += chunk.byteLength;
    expect(received).toBe(info.bytes);
  });

  it("drops the KV copies of versions the manifest no longer retains", async () => {
    const dataset = uniqueDataset("retire");
    const first = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    await notice({ dataset, version: first.info.version });
    expect(await env.SNAPSHOT_KV.get(bodyKvKey(dataset, first.info.version))).not.toBeNull();
    // Rewrite the manifest so only a new version is retained (what retention does after 20 publishes).
    const second = await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    const { manifestObjectKey } = await import("../../contract/index.ts");
    await env.SNAPSHOTS.put(manifestObjectKey(dataset), JSON.stringify({ ...second.manifest, versions: [second.info] }));
    expect((await notice({ dataset, version: second.info.version })).status).toBe(200);
    expect(await env.SNAPSHOT_KV.get(bodyKvKey(dataset, first.info.version))).toBeNull();
    expect(await env.SNAPSHOT_KV.get(bodyKvKey(dataset, second.info.version))).not.toBeNull();
  });

  it("writes nothing to KV for a repeated notice of the same manifest", async () => {
    const dataset = uniqueDataset("repeat");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    const value = (await env.SNAPSHOT_KV.get(manifestKvKey(dataset)))!;
    await env.SNAPSHOT_KV.put(manifestKvKey(dataset), value, { metadata: { marker: 1 } });
    expect((await notice({ dataset, version: info.version })).status).toBe(200);
    expect((await env.SNAPSHOT_KV.getWithMetadata(manifestKvKey(dataset))).metadata).toEqual({ marker: 1 });
  });

  it("rejects a missing or wrong token with 401 and changes nothing", async () => {
    const dataset = uniqueDataset("auth");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    for (const headers of [{} as Record<string, string>, { Authorization: "Bearer wrong-token" }, { Authorization: "Basic dGVzdC10b2tlbg==" }, { Authorization: "Bearer test-token-longer" }]) {
      const res = await notice({ dataset, version: info.version }, headers);
      expect(res.status).toBe(401);
      expect(await errorCode(res)).toBe("unauthorized");
    }
    expect(await env.SNAPSHOT_KV.get(manifestKvKey(dataset))).toBeNull();
  });

  it("answers 400 to a malformed body and 404 to an unknown dataset or version", async () => {
    const dataset = uniqueDataset("bad-notice");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const notJson = await notice("{not json");
    expect(notJson.status).toBe(400);
    expect(await errorCode(notJson)).toBe("bad_request");
    expect((await notice({ dataset: "Bad Name", version: info.version })).status).toBe(400);
    expect((await notice({ dataset })).status).toBe(400);
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
  it("heals a stale KV copy left by a lost notice, so the current URL serves the new version", async () => {
    const dataset = uniqueDataset("heal");
    const first = await publishFakeVersion(env, { dataset, records: airportRecords(4), key: "iata" });
    expect((await notice({ dataset, version: first.info.version })).status).toBe(200);
    const changed = airportRecords(4).map((r) => ({ ...r, flights: 7 }));
    const second = await publishFakeVersion(env, { dataset, records: changed, key: "iata" }); // notice lost
    expect(JSON.parse((await env.SNAPSHOT_KV.get(manifestKvKey(dataset)))!).current).toBe(first.info.version);

    await runScheduled();

    expect(JSON.parse((await env.SNAPSHOT_KV.get(manifestKvKey(dataset)))!).current).toBe(second.info.version);
    expect(await env.SNAPSHOT_KV.get(bodyKvKey(dataset, second.info.version))).toBe(second.body);
    const item = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/items/A001`);
    expect(((await item.json()) as { flights: number }).flights).toBe(7);
    const catalog = JSON.parse((await env.SNAPSHOT_KV.get(CATALOG_KV_KEY))!) as { datasets: { name: string; version: string }[] };
    expect(catalog.datasets.find((d) => d.name === dataset)?.version).toBe(second.info.version);
  });

  it("repairs a corrupted KV manifest and leaves an up-to-date one untouched", async () => {
    const dataset = uniqueDataset("corrupt");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    await env.SNAPSHOT_KV.put(manifestKvKey(dataset), "{garbage");
    // Reads still work while the KV copy is corrupt (they fall back to R2).
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}/versions/${info.version}`)).status).toBe(200);
    await runScheduled();
    const { value, metadata } = await env.SNAPSHOT_KV.getWithMetadata(manifestKvKey(dataset));
    expect(JSON.parse(value!).current).toBe(info.version);
    // Mark the value: an unchanged reconcile must not rewrite it (KV allows one write/s per key).
    await env.SNAPSHOT_KV.put(manifestKvKey(dataset), value!, { metadata: { marker: 1 } });
    await runScheduled();
    expect((await env.SNAPSHOT_KV.getWithMetadata(manifestKvKey(dataset))).metadata).toEqual({ marker: 1 });
    expect(metadata).toBeNull();
  });
});

describe("reconcileAll", () => {
  it("keeps reconciling other datasets when one has a missing object, and keeps it in the catalog", async () => {
    const { reconcileAll } = await import("../../edge/snapshots/reconcile.ts");
    const { shardObjectKey } = await import("../../contract/index.ts");
    const broken = uniqueDataset("a-broken");
    const healthy = uniqueDataset("z-healthy");
    const b = await publishFakeVersion(env, { dataset: broken, records: airportRecords(3), key: "iata", shards: 1 });
    await env.SNAPSHOTS.delete(shardObjectKey(broken, b.info.version, 0));
    const h = await publishFakeVersion(env, { dataset: healthy, records: [{ a: 1 }] });
    const report = await reconcileAll(env);
    expect(report.errors.map((e) => e.dataset)).toContain(broken);
    expect(report.errors.find((e) => e.dataset === broken)?.error).toMatch(/shard 0 .* missing/);
    expect(JSON.parse((await env.SNAPSHOT_KV.get(manifestKvKey(healthy)))!).current).toBe(h.info.version);
    expect(await env.SNAPSHOT_KV.get(manifestKvKey(broken))).toBeNull();
    const catalog = JSON.parse((await env.SNAPSHOT_KV.get(CATALOG_KV_KEY))!) as { datasets: { name: string }[] };
    expect(catalog.datasets.map((d) => d.name)).toEqual(expect.arrayContaining([broken, healthy]));
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
