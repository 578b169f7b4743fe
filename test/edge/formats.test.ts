/**
 * The other formats at the edge (`.csv`, `.ndjson`, `.parquet` on the current and versioned URLs),
 * inside workerd against Miniflare's R2: streamed as stored, with their own validators and download
 * names, and the JSON routes beside them unchanged.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Of } from "../../contract/storage.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

const CSV = 'a,b\r\n1,"x,y"\r\n2,\r\n';
const NDJSON = '{"a":1,"b":"x,y"}\n{"a":2,"b":null}\n';
/** Not real Parquet: the edge never looks inside, so any bytes (here not UTF-8) stand for it. */
const PARQUET = new Uint8Array([0x50, 0x41, 0x52, 0x31, 0xff, 0x00, 0xfe, 0x50, 0x41, 0x52, 0x31]);
const RECORDS = [
  { a: 1, b: "x,y" },
  { a: 2, b: null },
];

async function publishWithFormats(prefix: string) {
  const dataset = uniqueDataset(prefix);
  const published = await publishFakeVersion(env, { dataset, records: RECORDS, formats: { csv: CSV, ndjson: NDJSON, parquet: PARQUET } });
  return { dataset, ...published };
}

describe("GET /v1/datasets/:name.<format>", () => {
  it("serves each format of the current version as stored, with its own ETag, type, download name and short caching", async () => {
    const { dataset, info } = await publishWithFormats("fmt-current");
    const expected = { csv: ["text/csv; charset=utf-8", CSV], ndjson: ["application/x-ndjson", NDJSON], parquet: ["application/vnd.apache.parquet", PARQUET] } as const;
    for (const [format, [type, content]] of Object.entries(expected)) {
      const res = await get(`/v1/datasets/${dataset}.${format}`);
      expect(res.status, format).toBe(200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes).toEqual(typeof content === "string" ? new TextEncoder().encode(content) : content);
      expect(res.headers.get("ETag")).toBe(`"${await sha256Of(bytes)}"`);
      expect(res.headers.get("Content-Type")).toBe(type);
      expect(res.headers.get("Content-Length")).toBe(String(bytes.byteLength));
      expect(res.headers.get("Content-Disposition")).toBe(`attachment; filename="${dataset}-${info.version}.${format}"`);
      expect(res.headers.get("Last-Modified")).toBe(new Date(info.generated_at).toUTCString());
      expect(res.headers.get("X-Edgesnap-Version")).toBe(info.version);
      expect(res.headers.get("Cache-Control")).toBe((await get(`/v1/datasets/${dataset}`)).headers.get("Cache-Control"));
    }
  });

  it("serves a retained version's formats at its versioned URL, cached like the versioned JSON", async () => {
    const { dataset, info: first } = await publishWithFormats("fmt-versioned");
    await publishFakeVersion(env, { dataset, records: [{ a: 3, b: "z" }], formats: { csv: "a,b\r\n3,z\r\n" } });
    const res = await get(`/v1/datasets/${dataset}/versions/${first.version}.csv`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(CSV);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("Cache-Control")).toBe((await get(`/v1/datasets/${dataset}/versions/${first.version}`)).headers.get("Cache-Control"));
    expect(res.headers.get("Content-Disposition")).toBe(`attachment; filename="${dataset}-${first.version}.csv"`);
    expect(await (await get(`/v1/datasets/${dataset}.csv`)).text()).toBe("a,b\r\n3,z\r\n");
  });

  it("answers 304 to the format's own ETag (not the JSON's) and HEAD with the headers alone", async () => {
    const { dataset, info } = await publishWithFormats("fmt-304");
    const etag = `"${info.formats.csv!.sha256}"`;
    const notModified = await get(`/v1/datasets/${dataset}.csv`, { headers: { "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("ETag")).toBe(etag);
    expect(await notModified.text()).toBe("");
    const versioned = await get(`/v1/datasets/${dataset}/versions/${info.version}.csv`, { headers: { "If-None-Match": etag } });
    expect(versioned.status).toBe(304);
    expect((await get(`/v1/datasets/${dataset}.csv`, { headers: { "If-None-Match": `"${info.hash}"` } })).status).toBe(200);

    const head = await get(`/v1/datasets/${dataset}.parquet`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("ETag")).toBe(`"${info.formats.parquet!.sha256}"`);
    expect(head.headers.get("Content-Length")).toBe(String(PARQUET.byteLength));
    expect(head.headers.get("Content-Disposition")).toContain(".parquet");
    expect(await head.text()).toBe("");
  });

  it("answers 404 JSON for a format the version was published without", async () => {
    const dataset = uniqueDataset("fmt-missing");
    const { info } = await publishFakeVersion(env, { dataset, records: RECORDS, formats: { parquet: PARQUET } });
    for (const path of [`/v1/datasets/${dataset}.csv`, `/v1/datasets/${dataset}/versions/${info.version}.ndjson`]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error: { code: "not_found", message: expect.stringMatching(new RegExp(`^${dataset}@${info.version} was published without (csv|ndjson)$`)) } });
    }
    expect((await get(`/v1/datasets/${dataset}.parquet`)).status).toBe(200);
  });

  it("answers 400 for a malformed name or version, 404 for an unknown dataset or version, 405 for POST", async () => {
    const { dataset } = await publishWithFormats("fmt-errors");
    expect((await get("/v1/datasets/Not_A_Name.csv")).status).toBe(400);
    expect((await get(`/v1/datasets/${dataset}/versions/v1.csv`)).status).toBe(400);
    expect((await get("/v1/datasets/never-published.csv")).status).toBe(404);
    expect((await get(`/v1/datasets/${dataset}/versions/20200101T000000000Z-00000000.parquet`)).status).toBe(404);
    const post = await get(`/v1/datasets/${dataset}.csv`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("Allow")).toBe("GET, HEAD");
    // An extension that is not a format is still a malformed dataset name, as before.
    expect((await get(`/v1/datasets/${dataset}.xlsx`)).status).toBe(400);
  });

  it("streams a format object of several megabytes whole", async () => {
    const dataset = uniqueDataset("fmt-large");
    const line = `${"x".repeat(1000)}\n`;
    const large = line.repeat(6 * 1024);
    await publishFakeVersion(env, { dataset, records: RECORDS, formats: { ndjson: large } });
    const res = await get(`/v1/datasets/${dataset}.ndjson`);
    expect(res.headers.get("Content-Length")).toBe(String(large.length));
    expect(await sha256Of(new Uint8Array(await res.arrayBuffer()))).toBe(await sha256Of(large));
  });

  it("lets a browser on another origin read the download headers (CORS)", async () => {
    const { dataset } = await publishWithFormats("fmt-cors");
    const res = await get(`/v1/datasets/${dataset}.csv`, { headers: { Origin: "https://app.example" } });
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
    const exposed = (res.headers.get("Access-Control-Expose-Headers") ?? "").split(/,\s*/).map((h) => h.toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(["etag", "x-edgesnap-version", "last-modified", "link", "content-disposition"]));
    const preflight = await get(`/v1/datasets/${dataset}.csv`, { method: "OPTIONS", headers: { Origin: "https://app.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe("*");
  });

  it("leaves the JSON body of a version with formats as it was: same bytes, same headers, no download name", async () => {
    const { dataset, info, body } = await publishWithFormats("fmt-json");
    const res = await get(`/v1/datasets/${dataset}`);
    expect(await res.text()).toBe(body);
    expect(res.headers.get("Content-Type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
    expect(res.headers.get("Content-Disposition")).toBeNull();
    expect(await (await get(`/v1/datasets/${dataset}/versions/${info.version}`)).text()).toBe(body);
  });
});
