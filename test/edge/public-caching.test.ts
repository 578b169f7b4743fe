/**
 * What caches are told about every public route, inside workerd: Cache-Tag (dataset, version,
 * current) and the FRESHNESS_SECONDS bound on every cacheable answer (200, 304, HEAD), no-store
 * and no tag on errors; the freshness fields of the catalog and the admin overview computed at read
 * time; /v1/health.
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CATALOG_OBJECT_KEY, manifestObjectKey, type AdminDataset, type PublicCatalogEntry } from "../../contract/index.ts";
import { confirmUnchanged } from "../../contract/protocol/manifests.ts";
import worker from "../../edge/index.ts";
import { catalogEtag } from "../../edge/read/catalog.ts";
import { cacheTags } from "../../edge/http/cache-headers.ts";
import { cacheKey } from "../../edge/read/cache.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { airportRecords, BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

/** Calls the Worker with other vars than wrangler.toml's (SELF always has those). */
async function getWith(vars: Record<string, string>, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${BASE}${path}`, init) as Request<unknown, IncomingRequestCfProperties>, { ...env, ...vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Drops this location's cached catalog (kept up to FRESHNESS_SECONDS, as designed) before a read. */
async function uncachedCatalog(): Promise<Response> {
  await caches.default.delete(cacheKey("/v1/datasets"));
  await env.SNAPSHOTS.delete(CATALOG_OBJECT_KEY);
  return getWith({}, "/v1/datasets");
}

/** Removes a dataset's objects, so a stale one does not turn /v1/health red for the next test. */
async function removeDataset(dataset: string): Promise<void> {
  const listed = await env.SNAPSHOTS.list({ prefix: `datasets/${dataset}/` });
  await env.SNAPSHOTS.delete(listed.objects.map((o) => o.key));
}

const CURRENT = "public, max-age=0, s-maxage=10, must-revalidate";
const IMMUTABLE = "public, max-age=31536000, immutable";

describe("Cache-Tag and Cache-Control on every public route", () => {
  it("tags current and versioned answers with the dataset, the version and (current URLs only) :current, on 200, 304 and HEAD", async () => {
    const dataset = uniqueDataset("tags");
    const { info } = await publishFakeVersion(env, { dataset, records: airportRecords(5), key: "iata" });
    const v = info.version;
    const routes: [string, string, string[]][] = [
      [`/v1/datasets/${dataset}`, CURRENT, [`ds:${dataset}`, `ds:${dataset}@${v}`, `ds:${dataset}:current`]],
      [`/v1/datasets/${dataset}/pages/1`, CURRENT, [`ds:${dataset}`, `ds:${dataset}@${v}`, `ds:${dataset}:current`]],
      [`/v1/datasets/${dataset}/items/A001`, CURRENT, [`ds:${dataset}`, `ds:${dataset}@${v}`, `ds:${dataset}:current`]],
      [`/v1/datasets/${dataset}/versions/${v}`, IMMUTABLE, [`ds:${dataset}`, `ds:${dataset}@${v}`]],
      [`/v1/datasets/${dataset}/versions/${v}/pages/1`, IMMUTABLE, [`ds:${dataset}`, `ds:${dataset}@${v}`]],
      [`/v1/datasets/${dataset}/versions/${v}/items/A001`, IMMUTABLE, [`ds:${dataset}`, `ds:${dataset}@${v}`]],
    ];
    for (const [path, cacheControl, tags] of routes) {
      // The second GET of a URL is a Cache API hit locally: it must carry the same headers.
      for (const method of ["GET", "GET", "HEAD"]) {
        const res = await get(path, { method });
        expect(res.status, `${method} ${path}`).toBe(200);
        expect(res.headers.get("Cache-Control"), `${method} ${path}`).toBe(cacheControl);
        expect(res.headers.get("Cache-Tag")?.split(","), `${method} ${path}`).toEqual(tags);
        await res.body?.cancel();
      }
      const etag = (await get(path, { method: "HEAD" })).headers.get("ETag")!;
      const notModified = await get(path, { headers: { "If-None-Match": etag } });
      expect(notModified.status, `304 ${path}`).toBe(304);
      expect(notModified.headers.get("Cache-Control"), `304 ${path}`).toBe(cacheControl);
      expect(notModified.headers.get("Cache-Tag")?.split(","), `304 ${path}`).toEqual(tags);
    }
  });

  it("tags the catalog and /v1/health with their own tags", async () => {
    const dataset = uniqueDataset("catalog-tag");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const catalog = await get("/v1/datasets");
    expect(catalog.headers.get("Cache-Tag")).toBe("catalog");
    expect(catalog.headers.get("Cache-Control")).toBe(CURRENT);
    const notModified = await get("/v1/datasets", { headers: { "If-None-Match": catalog.headers.get("ETag")! } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("Cache-Tag")).toBe("catalog");
    const health = await get("/v1/health");
    expect(health.headers.get("Cache-Tag")).toBe("health");
    expect(health.headers.get("Cache-Control")).toBe("public, max-age=0, s-maxage=5, must-revalidate");
  });

  it("gives errors no tag and no-store, so no cache keeps a 404 past the first publish", async () => {
    const dataset = uniqueDataset("errors");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    for (const [path, status] of [
      [`/v1/datasets/never-published-${dataset}`, 404],
      [`/v1/datasets/${dataset}/versions/20200101T000000000Z-00000000`, 404],
      [`/v1/datasets/${dataset}/pages/9`, 404],
      ["/v1/datasets/Bad_Name", 400],
      ["/v1/nothing-here", 404],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).toBe(status);
      expect(res.headers.get("Cache-Tag"), path).toBeNull();
      expect(res.headers.get("Cache-Control"), path).toBe("no-store");
    }
    const post = await get(`/v1/datasets/${dataset}`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("Cache-Control")).toBe("no-store");
  });

  it("takes the current URLs' shared-cache lifetime from FRESHNESS_SECONDS, and keeps versioned URLs immutable", async () => {
    const dataset = uniqueDataset("configured");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const current = await getWith({ FRESHNESS_SECONDS: "3" }, `/v1/datasets/${dataset}/pages/1`);
    expect(current.headers.get("Cache-Control")).toBe("public, max-age=0, s-maxage=3, must-revalidate");
    // (A miss: an entry the Cache API holds keeps the bound it was stored with, FRESHNESS_SECONDS at most.)
    await caches.default.delete(cacheKey("/v1/datasets"));
    const catalog = await getWith({ FRESHNESS_SECONDS: "3" }, "/v1/datasets");
    expect(catalog.headers.get("Cache-Control")).toBe("public, max-age=0, s-maxage=3, must-revalidate");
    const versioned = await getWith({ FRESHNESS_SECONDS: "3" }, `/v1/datasets/${dataset}/versions/${info.version}/pages/1`);
    expect(versioned.headers.get("Cache-Control")).toBe(IMMUTABLE);
    // A malformed value falls back to the default rather than stopping the Worker.
    const typo = await getWith({ FRESHNESS_SECONDS: "ten" }, `/v1/datasets/${dataset}/pages/1`);
    expect(typo.status).toBe(200);
    expect(typo.headers.get("Cache-Control")).toBe(CURRENT);
  });

  it("derives tags from what an answer is: its kind, dataset and version", () => {
    expect(cacheTags({ kind: "current", dataset: "air" })).toEqual(["ds:air", "ds:air:current"]);
    expect(cacheTags({ kind: "current", dataset: "air", version: "v1" })).toEqual(["ds:air", "ds:air@v1", "ds:air:current"]);
    expect(cacheTags({ kind: "versioned", dataset: "air", version: "v1" })).toEqual(["ds:air", "ds:air@v1"]);
    expect(cacheTags({ kind: "versioned", dataset: "air" })).toEqual(["ds:air"]);
    expect(cacheTags({ kind: "catalog" })).toEqual(["catalog"]);
  });
});

describe("freshness in the catalog and the admin overview", () => {
  it("reports checked_at, age_seconds, max_age_seconds and stale, computed when the answer is made", async () => {
    const dataset = uniqueDataset("catalog-fresh");
    const checked = new Date(Date.now() - 400_000);
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: checked, maxAgeSeconds: 300 });
    const entry = async () => ((await (await uncachedCatalog()).json()) as { datasets: PublicCatalogEntry[] }).datasets.find((d) => d.name === dataset)!;
    const stale = await entry();
    expect(stale).toMatchObject({ version: info.version, checked_at: checked.toISOString(), max_age_seconds: 300, stale: true });
    expect(stale.age_seconds).toBeGreaterThanOrEqual(400);

    // An unchanged run confirms the same version: fresh again, with no new version published.
    await confirmUnchanged(openR2Store(env), dataset, info.hash);
    const fresh = await entry();
    expect(fresh).toMatchObject({ version: info.version, max_age_seconds: 300, stale: false });
    expect(fresh.age_seconds).toBeLessThan(60);

    const row = (await (await SELF.fetch(`${BASE}/admin/v1/datasets/${dataset}`, { headers: { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef" } })).json()) as AdminDataset;
    expect(row).toMatchObject({ current: info.version, max_age_seconds: 300, stale: false });
    expect(Date.parse(row.checked_at!)).toBeGreaterThan(checked.getTime());
    expect(row.age_seconds).toBeLessThan(60);
    await removeDataset(dataset);
  });

  it("keeps the catalog's validator while only the ages move, and changes it when a dataset goes stale", async () => {
    const dataset = uniqueDataset("catalog-etag");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: new Date(Date.now() - 3000_000), maxAgeSeconds: 3600 });
    const first = (await uncachedCatalog()).headers.get("ETag");
    expect((await uncachedCatalog()).headers.get("ETag")).toBe(first);
    await removeDataset(dataset);

    const stored = JSON.stringify({ datasets: [] });
    const entry = (age: number, stale: boolean): PublicCatalogEntry => ({
      name: "x", version: "v", generated_at: "", rows: 1, bytes: 1, pages: 1, key: null, url: "/v1/datasets/x",
      checked_at: "", max_age_seconds: 3600, age_seconds: age, stale,
    });
    expect(await catalogEtag(stored, [entry(10, false)])).toBe(await catalogEtag(stored, [entry(3000, false)]));
    expect(await catalogEtag(stored, [entry(3601, true)])).not.toBe(await catalogEtag(stored, [entry(3000, false)]));
  });
});

describe("GET /v1/health", () => {
  it("answers 200 while every dataset is fresh and 503 naming the stale ones, without secrets", async () => {
    const vars = { EDGESNAP_ALERT_WEBHOOK: "https://hooks.example/secret-path-123" };
    // Other tests' datasets have no budget, so they are never stale.
    let res = await getWith(vars, "/v1/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, stale: [], unreadable: [] });

    const dataset = uniqueDataset("health-stale");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }], generatedAt: new Date(Date.now() - 120_000), maxAgeSeconds: 60 });
    res = await getWith(vars, "/v1/health");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(text).not.toContain("secret-path-123");
    expect(text).not.toContain("test-token-0123456789abcdef0123456789abcdef");
    const body = JSON.parse(text) as { ok: boolean; stale: { name: string; age_seconds: number; max_age_seconds: number }[] };
    expect(body.ok).toBe(false);
    expect(body.stale.map((s) => s.name)).toEqual([dataset]);
    expect(body.stale[0]).toMatchObject({ max_age_seconds: 60 });
    expect(body.stale[0]!.age_seconds).toBeGreaterThanOrEqual(120);

    const head = await getWith(vars, "/v1/health", { method: "HEAD" });
    expect(head.status).toBe(503);
    expect(await head.text()).toBe("");

    // Fresh again once a run confirms it.
    await publishFakeVersion(env, { dataset, records: [{ a: 2 }], generatedAt: new Date(), maxAgeSeconds: 60 });
    expect((await getWith(vars, "/v1/health")).status).toBe(200);
    await removeDataset(dataset);
  });

  it("answers 503 naming a dataset whose manifest is unreadable", async () => {
    const dataset = uniqueDataset("health-junk");
    await env.SNAPSHOTS.put(manifestObjectKey(dataset), "{ not json");
    try {
      const res = await getWith({}, "/v1/health");
      expect(res.status).toBe(503);
      expect(((await res.json()) as { unreadable: string[] }).unreadable).toContain(dataset);
    } finally {
      await env.SNAPSHOTS.delete(manifestObjectKey(dataset));
    }
  });

  it("answers 405 to other methods", async () => {
    const res = await get("/v1/health", { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("Allow")).toBe("GET, HEAD");
  });
});
