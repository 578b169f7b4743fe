/**
 * Deltas for clients, inside workerd: a version's index document, and `changes?since=` for an
 * append, an edit, a deletion, a rollback, two versions apart, and a `since` no longer retained.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const AUTH = { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/json" };

interface Changes {
  since: string;
  version: string;
  hash: string;
  index: string;
  pages: { total: number; kept: number; new_bytes: number; new: { n: number; sha256: string; url: string; rows: number; first_row: number }[] };
  keys: { added: string[]; changed: string[]; removed: string[] } | null;
  keys_unavailable?: string;
}

const rows = (n: number, edit: (i: number) => string = () => "") => Array.from({ length: n }, (_, i) => ({ id: `r${String(i).padStart(4, "0")}`, text: `row ${i} ${"x".repeat(i % 30)}${edit(i)}` }));

async function changes(dataset: string, since: string): Promise<Changes> {
  const res = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/changes?since=${since}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Changes;
}

describe("GET /v1/datasets/:name/versions/:version/index", () => {
  it("lists the version's pages with their hashes, first rows, row counts and by-hash URLs", async () => {
    const dataset = uniqueDataset("index");
    const { info, pages } = await publishFakeVersion(env, { dataset, records: rows(200), pageBytes: 1500 });
    expect(pages.length).toBeGreaterThan(3);
    const res = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/versions/${info.version}/index`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    const index = (await res.json()) as { version: string; hash: string; rows: number; pages: { n: number; sha256: string; first_row: number; rows: number; bytes: number; url: string }[] };
    expect(index).toMatchObject({ version: info.version, hash: info.hash, rows: 200 });
    expect(index.pages).toEqual(info.pages.map((page, i) => ({ n: i + 1, ...page, url: `/v1/datasets/${dataset}/pages/${page.sha256}` })));
    for (const page of index.pages.slice(0, 2)) expect(await (await SELF.fetch(`${BASE}${page.url}`)).text()).toBe(pages[page.n - 1]);
    const current = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/index`);
    expect(current.headers.get("Cache-Control")).toMatch(/s-maxage=/);
    expect(((await current.json()) as { version: string }).version).toBe(info.version);
    const etag = res.headers.get("ETag")!;
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}/versions/${info.version}/index`, { headers: { "If-None-Match": etag } })).status).toBe(304);
  });
});

describe("GET /v1/datasets/:name/changes?since=", () => {
  it("after an append: only the last page and the new ones, and the added keys", async () => {
    const dataset = uniqueDataset("append");
    const v1 = await publishFakeVersion(env, { dataset, records: rows(300), key: "id", pageBytes: 1500 });
    const v2 = await publishFakeVersion(env, { dataset, records: rows(310), key: "id", pageBytes: 1500 });
    const delta = await changes(dataset, v1.info.version);
    expect(delta).toMatchObject({ since: v1.info.version, version: v2.info.version, hash: v2.info.hash, index: `/v1/datasets/${dataset}/versions/${v2.info.version}/index` });
    const held = new Set(v1.info.pages.map((p) => p.sha256));
    expect(delta.pages.new.map((p) => p.sha256)).toEqual(v2.info.pages.filter((p) => !held.has(p.sha256)).map((p) => p.sha256));
    expect(delta.pages.kept).toBe(v1.info.pages.length - 1);
    expect(delta.pages.new_bytes).toBeLessThan(v2.info.bytes / 4);
    expect(delta.keys).toEqual({ added: rows(310).slice(300).map((r) => r.id), changed: [], removed: [] });
  });

  it("after an edit and a deletion: the changed and removed keys, composed over two versions", async () => {
    const dataset = uniqueDataset("edit");
    const v1 = await publishFakeVersion(env, { dataset, records: rows(200), key: "id", pageBytes: 1500 });
    const edited = rows(200, (i) => (i === 17 || i === 150 ? " edited" : ""));
    const v2 = await publishFakeVersion(env, { dataset, records: edited, key: "id", pageBytes: 1500 });
    expect((await changes(dataset, v1.info.version)).keys).toEqual({ added: [], changed: ["r0017", "r0150"], removed: [] });
    await publishFakeVersion(env, { dataset, records: edited.filter((r) => r.id !== "r0099" && r.id !== "r0150"), key: "id", pageBytes: 1500 });
    expect((await changes(dataset, v2.info.version)).keys).toEqual({ added: [], changed: [], removed: ["r0099", "r0150"] });
    // Two versions apart: r0150 was changed then removed, so it is removed.
    expect((await changes(dataset, v1.info.version)).keys).toEqual({ added: [], changed: ["r0017"], removed: ["r0099", "r0150"] });
  });

  it("after a rollback: what takes a client from the newer version back to the older one", async () => {
    const dataset = uniqueDataset("rollback-delta");
    const v1 = await publishFakeVersion(env, { dataset, records: rows(100), key: "id" });
    const v2 = await publishFakeVersion(env, { dataset, records: [...rows(100, (i) => (i === 3 ? "!" : "")), { id: "r9999", text: "new" }], key: "id" });
    const back = await SELF.fetch(`${BASE}/admin/v1/datasets/${dataset}/rollback`, { method: "POST", headers: AUTH, body: JSON.stringify({ version: v1.info.version }) });
    expect(back.status).toBe(200);
    const delta = await changes(dataset, v2.info.version);
    expect(delta.version).toBe(v1.info.version);
    expect(delta.keys).toEqual({ added: [], changed: ["r0003"], removed: ["r9999"] });
    expect(delta.pages.new.map((p) => p.sha256)).toEqual(v1.info.pages.map((p) => p.sha256).filter((sha) => !v2.info.pages.some((p) => p.sha256 === sha)));
  });

  it("answers nothing new for the current version, keys null for an unkeyed dataset, 410 for a version no longer retained, 400 without since", async () => {
    const dataset = uniqueDataset("gone");
    const v1 = await publishFakeVersion(env, { dataset, records: rows(10), retain: 1 });
    const same = await changes(dataset, v1.info.version);
    expect(same.pages).toMatchObject({ new: [], kept: v1.info.pages.length, new_bytes: 0 });
    expect(same.keys).toBeNull();
    expect(same.keys_unavailable).toMatch(/not keyed/);
    await publishFakeVersion(env, { dataset, records: rows(11), retain: 1 });
    const gone = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/changes?since=${v1.info.version}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "gone", message: expect.stringMatching(/no longer retained/) });
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}/changes`)).status).toBe(400);
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}/changes?since=latest`)).status).toBe(400);
    expect((await SELF.fetch(`${BASE}/v1/datasets/no-such-set/changes?since=${v1.info.version}`)).status).toBe(404);
  });
});
