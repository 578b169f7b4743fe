/**
 * Versions stored as pages, inside workerd: the full body joined from the stored pages byte for
 * byte, the pages API with its Link headers, and the manifest operations on multi-page versions.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { manifestObjectKey, parseHeadText, sha256Of } from "../../contract/index.ts";
import { airportRecords, BASE, pageKey, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const AUTH = { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/json" };

function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

/** The `rel` -> URL map of an RFC 8288 Link header. */
function links(header: string | null): Record<string, string> {
  const map: Record<string, string> = {};
  for (const part of (header ?? "").split(",")) {
    const match = /<([^>]+)>;\s*rel="([^"]+)"/.exec(part.trim());
    if (match) map[match[2]!] = match[1]!;
  }
  return map;
}

const records = (n: number) => Array.from({ length: n }, (_, i) => ({ i, name: `row ${i} é✈`, pad: "x".repeat(i % 23) }));

describe("a version of many pages", () => {
  it("serves the full body as the stored pages joined, byte for byte, with the ETag and Content-Length of the body", async () => {
    const dataset = uniqueDataset("paged");
    const { info, body, pages } = await publishFakeVersion(env, { dataset, records: records(300), pageBytes: 800 });
    expect(pages.length).toBeGreaterThan(10);
    for (const url of [`/v1/datasets/${dataset}`, `/v1/datasets/${dataset}/versions/${info.version}`]) {
      const res = await get(url);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toBe(body);
      expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
      expect(await sha256Of(text)).toBe(info.hash);
      expect(res.headers.get("Content-Length")).toBe(String(info.bytes));
    }
  });

  it("serves each page as stored, with its own ETag, the version, and links to the versioned pages", async () => {
    const dataset = uniqueDataset("pages-api");
    const { info, pages } = await publishFakeVersion(env, { dataset, records: records(120), pageBytes: 700 });
    const last = pages.length;
    for (const n of [1, 2, last]) {
      const res = await get(`/v1/datasets/${dataset}/pages/${n}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(pages[n - 1]);
      expect(res.headers.get("ETag")).toBe(`"${info.pages[n - 1]!.sha256}"`);
      expect(res.headers.get("X-Edgesnap-Version")).toBe(info.version);
      expect(res.headers.get("Content-Type")).toBe("application/json; charset=utf-8");
      expect(res.headers.get("Cache-Control")).toMatch(/s-maxage=\d+/);
      const rel = links(res.headers.get("Link"));
      const versioned = (page: number) => `/v1/datasets/${dataset}/versions/${info.version}/pages/${page}`;
      expect(rel.first).toBe(versioned(1));
      expect(rel.last).toBe(versioned(last));
      expect(rel.prev).toBe(n > 1 ? versioned(n - 1) : undefined);
      expect(rel.next).toBe(n < last ? versioned(n + 1) : undefined);
    }
    const versionedPage = await get(`/v1/datasets/${dataset}/versions/${info.version}/pages/2`);
    expect(await versionedPage.text()).toBe(pages[1]);
    expect(versionedPage.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
  });

  it("adds up to the body when a client walks the Link headers from page 1 to the last, even across a publish", async () => {
    const dataset = uniqueDataset("walk");
    const first = await publishFakeVersion(env, { dataset, records: records(150), pageBytes: 900 });
    const rows: unknown[] = [];
    let url: string | undefined = `/v1/datasets/${dataset}/pages/1`;
    let walked = 0;
    while (url !== undefined) {
      const res = await get(url);
      expect(res.status).toBe(200);
      rows.push(...((await res.json()) as unknown[]));
      url = links(res.headers.get("Link")).next;
      walked++;
      // A new version is published midway: the walk stays on the version it started on.
      if (walked === 2) await publishFakeVersion(env, { dataset, records: records(10), pageBytes: 900 });
    }
    expect(walked).toBe(first.pages.length);
    expect(rows).toEqual(JSON.parse(first.body));
  });

  it("answers 404 JSON for a page out of range and 400 for a malformed page number", async () => {
    const dataset = uniqueDataset("range");
    const { info, pages } = await publishFakeVersion(env, { dataset, records: records(40), pageBytes: 500 });
    const beyond = await get(`/v1/datasets/${dataset}/pages/${pages.length + 1}`);
    expect(beyond.status).toBe(404);
    expect(((await beyond.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: "not_found",
      message: `page ${pages.length + 1} of ${dataset}@${info.version} does not exist (it has ${pages.length})`,
    });
    for (const bad of ["0", "-1", "1.5", "abc", "01"]) expect((await get(`/v1/datasets/${dataset}/pages/${bad}`)).status, bad).toBe(400);
  });

  it("answers HEAD, 304 and CORS on pages like on the other routes", async () => {
    const dataset = uniqueDataset("page-http");
    const { info } = await publishFakeVersion(env, { dataset, records: records(30), pageBytes: 400 });
    const head = await get(`/v1/datasets/${dataset}/pages/1`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe(String(info.pages[0]!.bytes));
    expect(await head.text()).toBe("");
    const etag = `"${info.pages[0]!.sha256}"`;
    const notModified = await get(`/v1/datasets/${dataset}/pages/1`, { headers: { "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("Link")).toContain('rel="next"');
    const cors = await get(`/v1/datasets/${dataset}/pages/1`, { headers: { Origin: "https://app.example" } });
    expect(cors.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(cors.headers.get("Access-Control-Expose-Headers")).toContain("Link");
  });

  it("serves an empty version as one empty page and an empty body", async () => {
    const dataset = uniqueDataset("empty");
    const { info } = await publishFakeVersion(env, { dataset, records: [] });
    expect(info.pages).toHaveLength(1);
    expect(await (await get(`/v1/datasets/${dataset}`)).text()).toBe("[]");
    expect(await (await get(`/v1/datasets/${dataset}/pages/1`)).text()).toBe("[]");
    expect((await get(`/v1/datasets/${dataset}/pages/2`)).status).toBe(404);
  });

  it("serves items of a many-shard keyed version byte for byte", async () => {
    const dataset = uniqueDataset("items-paged");
    const all = airportRecords(400);
    const { info } = await publishFakeVersion(env, { dataset, records: all, key: "iata", shards: 16, pageBytes: 2_000 });
    for (const i of [0, 133, 399]) {
      const res = await get(`/v1/datasets/${dataset}/items/${all[i]!.iata as string}`);
      expect(await res.text()).toBe(JSON.stringify(all[i]));
    }
    expect(info.pages.length).toBeGreaterThan(5);
  });

  it("serves an item's bytes exactly as they are in its page (-1.0 stays -1.0)", async () => {
    const dataset = uniqueDataset("item-bytes");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ id: "a", x: 1000 }], key: "id", shards: 1 });
    // As polars writes it: a float keeps its ".0", which a JSON.parse + JSON.stringify would drop.
    // The page's stored bytes (same length) are what the item's range read returns.
    await env.SNAPSHOTS.put(pageKey(info), '[{"id":"a","x":-1.0}]');
    expect(await (await get(`/v1/datasets/${dataset}/items/a`)).text()).toBe('{"id":"a","x":-1.0}');
  });

  it("serves a page by its sha256 at one immutable URL for every version that holds it", async () => {
    const dataset = uniqueDataset("by-hash");
    const v1 = await publishFakeVersion(env, { dataset, records: records(120), pageBytes: 700 });
    const v2 = await publishFakeVersion(env, { dataset, records: records(121), pageBytes: 700 });
    const shared = v1.info.pages[0]!;
    expect(v2.info.pages[0]!.sha256).toBe(shared.sha256);
    const res = await get(`/v1/datasets/${dataset}/pages/${shared.sha256}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(v1.pages[0]);
    expect(res.headers.get("ETag")).toBe(`"${shared.sha256}"`);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("Cache-Tag")).toBe(`ds:${dataset}`);
    expect((await get(`/v1/datasets/${dataset}/pages/${shared.sha256}`, { headers: { "If-None-Match": `"${shared.sha256}"` } })).status).toBe(304);
    const head = await get(`/v1/datasets/${dataset}/pages/${shared.sha256}`, { method: "HEAD" });
    expect(head.headers.get("Content-Length")).toBe(String(shared.bytes));
    expect(await head.text()).toBe("");
    expect((await get(`/v1/datasets/${dataset}/pages/${"0".repeat(64)}`)).status).toBe(404);
    expect((await get(`/v1/datasets/${dataset}/pages/${"g".repeat(64)}`)).status).toBe(400);
  });

  it("rolls back, pins and prunes multi-page versions: a pruned version's pages are all deleted", async () => {
    const dataset = uniqueDataset("prune-pages");
    const v1 = await publishFakeVersion(env, { dataset, records: records(60), pageBytes: 500 });
    const v2 = await publishFakeVersion(env, { dataset, records: records(61), pageBytes: 500 });
    const v3 = await publishFakeVersion(env, { dataset, records: records(62), pageBytes: 500 });
    const admin = (path: string, body: unknown) => SELF.fetch(`${BASE}/admin/v1${path}`, { method: "POST", headers: AUTH, body: JSON.stringify(body) });
    expect((await admin(`/datasets/${dataset}/rollback`, { version: v2.info.version })).status).toBe(200);
    expect(await (await get(`/v1/datasets/${dataset}`)).text()).toBe(v2.body);
    expect(await (await get(`/v1/datasets/${dataset}/pages/2`)).text()).toBe(v2.pages[1]);
    expect((await admin("/prune", { keep: 1 })).status).toBe(200);
    const manifest = parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head;
    expect(manifest.versions.map((v) => v.version).sort()).toEqual([v2.info.version, v3.info.version].sort());
    // v1's pages that v2 or v3 share stay; the others are deleted. Every page of a kept version stays.
    const kept = new Set([...v2.info.pages, ...v3.info.pages].map((page) => page.sha256));
    const v1Only = v1.info.pages.filter((page) => !kept.has(page.sha256));
    expect(v1Only.length).toBeGreaterThan(0);
    expect(v1.info.pages.length - v1Only.length).toBeGreaterThan(0);
    for (let page = 1; page <= v1.pages.length; page++) {
      const shared = kept.has(v1.info.pages[page - 1]!.sha256);
      expect(await env.SNAPSHOTS.head(pageKey(v1, page)), `v1 page ${page}`).toEqual(shared ? expect.anything() : null);
    }
    for (let page = 1; page <= v2.pages.length; page++) expect(await env.SNAPSHOTS.head(pageKey(v2, page))).not.toBeNull();
    expect((await get(`/v1/datasets/${dataset}/versions/${v1.info.version}/pages/1`)).status).toBe(404);
  });
});
