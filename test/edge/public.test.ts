/**
 * Public read routes, run inside workerd against the real KV, R2 and Cache API of Miniflare.
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { createApp } from "../../edge/app.ts";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../support/fake-publish.ts";
import { airportRecords, BASE, pageKey, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

async function notify(dataset: string, version: string): Promise<Response> {
  return SELF.fetch(`${BASE}/internal/v1/publish-notice`, {
    method: "POST",
    headers: { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/json" },
    body: JSON.stringify({ dataset, version }),
  });
}

describe("GET /v1/datasets/:name (current)", () => {
  it("serves the current body byte for byte with ETag, Last-Modified, version and short caching", async () => {
    const dataset = uniqueDataset("current");
    const { info, body } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2.5, d: "2001-01-01" }] });
    const res = await get(`/v1/datasets/${dataset}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
    expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
    expect(res.headers.get("Last-Modified")).toBe(new Date(info.generated_at).toUTCString());
    expect(res.headers.get("X-Edgesnap-Version")).toBe(info.version);
    expect(res.headers.get("Content-Type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=0, s-maxage=10, must-revalidate");
  });

  it("falls back to R2 when KV has no copy, and serves the KV copy when there is one", async () => {
    const dataset = uniqueDataset("kvmiss");
    const { info, body } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    expect(await env.SNAPSHOT_KV.get(pageKey(info))).toBeNull();
    expect(await (await get(`/v1/datasets/${dataset}/versions/${info.version}`)).text()).toBe(body);

    // Prove the KV tier is read: a KV copy that differs from R2 wins for a version not yet cached.
    const other = await publishFakeVersion(env, { dataset, records: [{ a: 2 }] });
    expect((await notify(dataset, other.info.version)).status).toBe(200);
    expect(await env.SNAPSHOT_KV.get(pageKey(other))).toBe(other.body);
    // (A copy of the same length: the answer's Content-Length comes from the head.)
    await env.SNAPSHOT_KV.put(pageKey(other), "[{\"a\":9}]");
    expect(await (await get(`/v1/datasets/${dataset}/versions/${other.info.version}`)).text()).toBe("[{\"a\":9}]");
  });

  it("answers 304 to a matching If-None-Match (strong, weak, list or *) and 200 to a stale one", async () => {
    const dataset = uniqueDataset("etag");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    for (const header of [`"${info.hash}"`, `W/"${info.hash}"`, `"nope", "${info.hash}"`, "*"]) {
      const res = await get(`/v1/datasets/${dataset}`, { headers: { "If-None-Match": header } });
      expect(res.status, header).toBe(304);
      expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
      expect(res.headers.get("X-Edgesnap-Version")).toBe(info.version);
      expect(await res.text()).toBe("");
    }
    const stale = await get(`/v1/datasets/${dataset}`, { headers: { "If-None-Match": '"0000"' } });
    expect(stale.status).toBe(200);
    expect(await stale.json()).toEqual([{ a: 1 }]);
  });

  it("answers 304 to If-Modified-Since at or after generated_at when there is no If-None-Match", async () => {
    const dataset = uniqueDataset("ims");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const since = new Date(info.generated_at).toUTCString();
    expect((await get(`/v1/datasets/${dataset}`, { headers: { "If-Modified-Since": since } })).status).toBe(304);
    const earlier = new Date(Date.parse(info.generated_at) - 60_000).toUTCString();
    expect((await get(`/v1/datasets/${dataset}`, { headers: { "If-Modified-Since": earlier } })).status).toBe(200);
  });

  it("answers HEAD with the GET headers and no body", async () => {
    const dataset = uniqueDataset("head");
    const { info, body } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    const res = await get(`/v1/datasets/${dataset}`, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
    expect(res.headers.get("Content-Length")).toBe(String(new TextEncoder().encode(body).byteLength));
    expect(await res.text()).toBe("");
  });

  it("serves the new version at the current URL after a publish notice purges the cached copy", async () => {
    const dataset = uniqueDataset("purge");
    const first = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    expect(await (await get(`/v1/datasets/${dataset}`)).json()).toEqual([{ v: 1 }]);
    const second = await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    expect((await notify(dataset, second.info.version)).status).toBe(200);
    const res = await get(`/v1/datasets/${dataset}`);
    expect(res.headers.get("X-Edgesnap-Version")).toBe(second.info.version);
    expect(await res.json()).toEqual([{ v: 2 }]);
    // The old version keeps answering at its versioned URL.
    expect(await (await get(`/v1/datasets/${dataset}/versions/${first.info.version}`)).json()).toEqual([{ v: 1 }]);
  });

  it("404s an unknown dataset and 400s a malformed name", async () => {
    const unknown = await get("/v1/datasets/no-such-dataset");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: "not_found", message: "unknown dataset no-such-dataset" } });
    const malformed = await get("/v1/datasets/Bad_Name");
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe("bad_request");
  });

  it("405s other methods with an Allow header", async () => {
    const res = await get("/v1/datasets/anything", { method: "POST", body: "x" });
    expect(res.status).toBe(405);
    expect(res.headers.get("Allow")).toBe("GET, HEAD");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
    expect((await get("/v1/datasets", { method: "DELETE" })).status).toBe(405);
  });
});

describe("GET /v1/datasets/:name/versions/:version", () => {
  it("serves an immutable body cached for a year", async () => {
    const dataset = uniqueDataset("versioned");
    const { info, body } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const res = await get(`/v1/datasets/${dataset}/versions/${info.version}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
  });

  it("answers HEAD and 304 from the edge cache once a GET has filled it", async () => {
    const dataset = uniqueDataset("cached");
    const { info, body } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    const url = `/v1/datasets/${dataset}/versions/${info.version}`;
    expect(await (await get(url)).text()).toBe(body);
    // Remove the R2 page: from now on only the Cache API can answer.
    await env.SNAPSHOTS.delete(pageKey(info));
    const head = await get(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("ETag")).toBe(`"${info.hash}"`);
    expect(await head.text()).toBe("");
    const conditional = await get(url, { headers: { "If-None-Match": `"${info.hash}"` } });
    expect(conditional.status).toBe(304);
    expect(conditional.headers.get("X-Edgesnap-Version")).toBe(info.version);
    expect(await (await get(url)).text()).toBe(body);
  });

  it("404s an unknown version and 400s a malformed one", async () => {
    const dataset = uniqueDataset("badversion");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const unknown = await get(`/v1/datasets/${dataset}/versions/20000101T000000000Z-00000000`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/unknown version/);
    expect((await get(`/v1/datasets/${dataset}/versions/latest`)).status).toBe(400);
  });

  it("serves a version published without a notice: the manifest is always read from R2", async () => {
    const dataset = uniqueDataset("no-notice");
    const first = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    expect((await notify(dataset, first.info.version)).status).toBe(200);
    const second = await publishFakeVersion(env, { dataset, records: [{ a: 2 }] }); // no notice
    const res = await get(`/v1/datasets/${dataset}/versions/${second.info.version}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ a: 2 }]);
  });
});

describe("GET /v1/datasets/:name/items/:key", () => {
  it("serves one record by key from the current and a versioned URL", async () => {
    const dataset = uniqueDataset("items");
    const records = airportRecords(50);
    const { info } = await publishFakeVersion(env, { dataset, records, key: "iata", shards: 4 });
    const res = await get(`/v1/datasets/${dataset}/items/A007`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(records[7]);
    expect(res.headers.get("X-Edgesnap-Version")).toBe(info.version);
    expect(res.headers.get("Cache-Control")).toMatch(/s-maxage=10/);
    const versioned = await get(`/v1/datasets/${dataset}/versions/${info.version}/items/A042`);
    expect(await versioned.json()).toEqual(records[42]);
    expect(versioned.headers.get("Cache-Control")).toMatch(/immutable/);
  });

  it("reads only the shard that holds the key", async () => {
    const dataset = uniqueDataset("one-shard");
    const records = airportRecords(40);
    const { info } = await publishFakeVersion(env, { dataset, records, key: "iata", shards: 8 });
    expect((await notify(dataset, info.version)).status).toBe(200);
    // Corrupt every shard copy but the one holding A003: the lookup must still succeed.
    const { itemShardOf, itemShardObjectKey } = await import("../../contract/index.ts");
    const items = info.items as { shards: string[] };
    expect(items.shards).toHaveLength(8);
    const wanted = itemShardOf("A003", 8);
    for (let s = 0; s < 8; s++) if (s !== wanted) await env.SNAPSHOT_KV.put(itemShardObjectKey(dataset, items.shards[s]!), "not a shard");
    const res = await get(`/v1/datasets/${dataset}/items/A003`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(records[3]);
  });

  it("gives an item the sha256 of its own bytes as ETag: 304 across versions while the record is unchanged, 200 once it changes", async () => {
    const dataset = uniqueDataset("item-etag");
    const first = await publishFakeVersion(env, { dataset, records: airportRecords(5), key: "iata" });
    const a = await get(`/v1/datasets/${dataset}/items/A001`);
    const bytes = await a.text();
    const etag = a.headers.get("ETag")!;
    expect(etag).toBe(`"${await sha256Hex(bytes)}"`);
    expect((await get(`/v1/datasets/${dataset}/items/A002`)).headers.get("ETag")).not.toBe(etag);
    expect((await get(`/v1/datasets/${dataset}/items/A001`, { headers: { "If-None-Match": etag } })).status).toBe(304);
    // A new version that changes A002 only: A001 keeps its ETag.
    const second = await publishFakeVersion(env, { dataset, records: airportRecords(5).map((r) => (r.iata === "A002" ? { ...r, flights: 1 } : r)), key: "iata" });
    expect(second.info.version).not.toBe(first.info.version);
    const unchanged = await get(`/v1/datasets/${dataset}/items/A001`, { headers: { "If-None-Match": etag } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get("X-Edgesnap-Version")).toBe(second.info.version);
    // A version that changes A001: the old ETag no longer matches.
    await publishFakeVersion(env, { dataset, records: airportRecords(5).map((r) => ({ ...r, flights: 1 })), key: "iata" });
    const after = await get(`/v1/datasets/${dataset}/items/A001`, { headers: { "If-None-Match": etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get("ETag")).not.toBe(etag);
  });

  it("404s an unknown key and a dataset without a key, 400s a malformed key, and supports HEAD", async () => {
    const keyed = uniqueDataset("keyed");
    await publishFakeVersion(env, { dataset: keyed, records: airportRecords(3), key: "iata" });
    const missing = await get(`/v1/datasets/${keyed}/items/ZZZ`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("not_found");
    expect((await get(`/v1/datasets/${keyed}/items/ZZZ`, { headers: { "If-None-Match": "*" } })).status).toBe(404);
    expect((await get(`/v1/datasets/${keyed}/items/${"x".repeat(300)}`)).status).toBe(400);
    expect((await get(`/v1/datasets/${keyed}/items/a%01b`)).status).toBe(400);
    const head = await get(`/v1/datasets/${keyed}/items/A001`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("Content-Length"))).toBeGreaterThan(10);
    expect(await head.text()).toBe("");

    const unkeyed = uniqueDataset("unkeyed");
    await publishFakeVersion(env, { dataset: unkeyed, records: [{ a: 1 }] });
    const res = await get(`/v1/datasets/${unkeyed}/items/1`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not keyed/);
  });

  it("decodes percent-encoded keys", async () => {
    const dataset = uniqueDataset("encoded");
    const records = [{ k: "a/b c", n: 1 }, { k: "é", n: 2 }];
    await publishFakeVersion(env, { dataset, records, key: "k" });
    expect(await (await get(`/v1/datasets/${dataset}/items/${encodeURIComponent("a/b c")}`)).json()).toEqual(records[0]);
    expect(await (await get(`/v1/datasets/${dataset}/items/${encodeURIComponent("é")}`)).json()).toEqual(records[1]);
  });
});

describe("GET /v1/datasets (catalog)", () => {
  it("lists published datasets with version, rows, bytes and URL", async () => {
    const dataset = uniqueDataset("catalog");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    expect((await notify(dataset, info.version)).status).toBe(200);
    const res = await get("/v1/datasets");
    expect(res.status).toBe(200);
    // Weak: the ages in the answer change every second without changing what a client needs.
    expect(res.headers.get("ETag")).toMatch(/^W\/"[0-9a-f]{32}"$/);
    const { datasets } = (await res.json()) as { datasets: { name: string }[] };
    expect(datasets).toContainEqual({
      name: dataset,
      version: info.version,
      generated_at: info.generated_at,
      rows: 2,
      bytes: info.bytes,
      pages: 1,
      key: null,
      url: `/v1/datasets/${dataset}`,
      checked_at: info.generated_at,
      max_age_seconds: null,
      age_seconds: expect.any(Number),
      stale: false,
    });
    const head = await get("/v1/datasets", { method: "HEAD" });
    expect(head.headers.get("ETag")).toBe(res.headers.get("ETag"));
    expect((await get("/v1/datasets", { headers: { "If-None-Match": res.headers.get("ETag")! } })).status).toBe(304);
  });
});

describe("CORS", () => {
  it("answers a preflight and exposes the snapshot headers on reads", async () => {
    const preflight = await get("/v1/datasets/x", {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "If-None-Match" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(preflight.headers.get("Access-Control-Allow-Methods")).toContain("GET");
    expect(preflight.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("if-none-match");

    const dataset = uniqueDataset("cors");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    for (let i = 0; i < 2; i++) {
      // Twice: the second answer comes from the Cache API and must carry CORS headers too.
      const res = await get(`/v1/datasets/${dataset}`, { headers: { Origin: "https://app.example" } });
      expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
      expect(res.headers.get("Access-Control-Expose-Headers")).toBe("ETag,X-Edgesnap-Version,Last-Modified,Link,Content-Disposition,Accept-Ranges,Content-Range,Content-Length,Content-Encoding");
      await res.text();
    }
  });
});

describe("misc routes", () => {
  it("answers /healthz and returns JSON 404 for unknown paths", async () => {
    const health = await get("/healthz");
    expect(await health.json()).toEqual({ ok: true });
    const unknown = await get("/nope");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("turns an unexpected failure into a 500 without internals", async () => {
    const dataset = uniqueDataset("broken");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    // Storage that fails in a way nothing expects (not a missing or junk object).
    const failing = new Proxy(env.SNAPSHOTS, {
      get(target, property, receiver) {
        if (property === "get") return async () => {
          throw new TypeError("the bucket exploded at /secret/path");
        };
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const res = await createApp().fetch(new Request(`${BASE}/v1/datasets/${dataset}`), { ...env, SNAPSHOTS: failing } as Env, createExecutionContext());
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: "internal", message: "internal error" } });
  });
});

describe("edge cases the red team named", () => {
  it("reads every item back from a keyed version whose index has empty shards, and 404s a key that would live in one", async () => {
    const dataset = uniqueDataset("empty-shards");
    const records = airportRecords(3);
    const { info } = await publishFakeVersion(env, { dataset, records, key: "iata", shards: 16 });
    const { itemShardOf } = await import("../../contract/index.ts");
    const used = new Set(records.map((r) => itemShardOf(String(r.iata), 16)));
    expect(used.size).toBeLessThan(16);
    for (const record of records) expect(await (await get(`/v1/datasets/${dataset}/items/${String(record.iata)}`)).json()).toEqual(record);
    const inEmpty = Array.from({ length: 200 }, (_, i) => `Z${i}`).find((key) => !used.has(itemShardOf(key, 16)))!;
    expect((await get(`/v1/datasets/${dataset}/items/${inEmpty}`)).status).toBe(404);
    expect((info.items as { shards: string[] }).shards).toHaveLength(16);
  });

  it("never caches a HEAD answer for the GET that follows on a cold versioned URL", async () => {
    const dataset = uniqueDataset("head-then-get");
    const { info, body } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    const url = `/v1/datasets/${dataset}/versions/${info.version}`;
    const head = await get(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const full = await get(url);
    expect(full.status).toBe(200);
    expect(await full.text()).toBe(body);
    expect(await (await get(url)).text()).toBe(body);
  });
});
