/**
 * Range requests (RFC 9110 §14) inside workerd: 206 with the exact bytes for `a-b`, `a-` and `-n` on
 * the body (inside one page, across a page boundary, the last bytes), a page, an item and each
 * format; 416; If-Range; a malformed range and several ranges answered whole; HEAD; and a body range
 * reads only the pages it spans (R2 reads counted).
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../edge/app.ts";
import { decideRange, sliceParts } from "../../edge/http/range.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${String(i).padStart(4, "0")}`, text: `row ${i} ${"é".repeat(i % 7)}` }));

async function get(path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, { method, headers });
}

const bytesOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());
const enc = (text: string) => new TextEncoder().encode(text);

describe("decideRange", () => {
  const v = { etag: '"abc"', lastModified: new Date("2026-12-01T10:00:00.500Z") };
  const h = (headers: Record<string, string>) => new Headers(headers);
  it("takes one byte range: first-last, first-, and a suffix, clamped to the length", () => {
    expect(decideRange("GET", h({ Range: "bytes=0-9" }), 100, v)).toEqual({ kind: "partial", start: 0, end: 9 });
    expect(decideRange("GET", h({ Range: "bytes=90-" }), 100, v)).toEqual({ kind: "partial", start: 90, end: 99 });
    expect(decideRange("GET", h({ Range: "bytes=-5" }), 100, v)).toEqual({ kind: "partial", start: 95, end: 99 });
    expect(decideRange("GET", h({ Range: "bytes=-500" }), 100, v)).toEqual({ kind: "partial", start: 0, end: 99 });
    expect(decideRange("GET", h({ Range: "bytes=50-500" }), 100, v)).toEqual({ kind: "partial", start: 50, end: 99 });
  });
  it("is unsatisfiable past the end, and for an empty suffix", () => {
    expect(decideRange("GET", h({ Range: "bytes=100-" }), 100, v)).toEqual({ kind: "unsatisfiable" });
    expect(decideRange("GET", h({ Range: "bytes=-0" }), 100, v)).toEqual({ kind: "unsatisfiable" });
  });
  it("answers the whole for HEAD, no header, another unit, a malformed or reversed range, several ranges", () => {
    for (const [method, range] of [["HEAD", "bytes=0-1"], ["GET", "items=0-1"], ["GET", "bytes=5-1"], ["GET", "bytes=a-b"], ["GET", "bytes=-"], ["GET", "bytes=0-1,4-5"]] as const) {
      expect(decideRange(method, h({ Range: range }), 100, v), `${method} ${range}`).toEqual({ kind: "full" });
    }
    expect(decideRange("GET", h({}), 100, v)).toEqual({ kind: "full" });
  });
  it("applies a range under If-Range only for the same strong ETag or the same date", () => {
    const range = (ifRange: string) => decideRange("GET", h({ Range: "bytes=0-1", "If-Range": ifRange }), 100, v).kind;
    expect(range('"abc"')).toBe("partial");
    expect(range('"abd"')).toBe("full");
    expect(range('W/"abc"')).toBe("full");
    expect(range("Tue, 01 Dec 2026 10:00:00 GMT")).toBe("partial");
    expect(range("Tue, 01 Dec 2026 09:59:59 GMT")).toBe("full");
  });
  it("slices parts to the bytes asked for, reading only the parts the range spans", () => {
    const parts = [{ key: "a", offset: 0, length: 10 }, { text: "," }, { key: "b", offset: 1, length: 10 }];
    expect(sliceParts(parts, 8, 12)).toEqual([{ key: "a", offset: 8, length: 2 }, { bytes: new TextEncoder().encode(",") }, { key: "b", offset: 1, length: 2 }]);
    expect(sliceParts(parts, 0, 3)).toEqual([{ key: "a", offset: 0, length: 4 }]);
    expect(sliceParts(parts, 11, 20)).toEqual([{ key: "b", offset: 1, length: 10 }]);
  });
});

describe("Range on snapshot representations", () => {
  it("answers 206 with the exact bytes of the body: inside a page, across a page boundary, and the last bytes", async () => {
    const dataset = uniqueDataset("range-body");
    const { info, body, pages } = await publishFakeVersion(env, { dataset, records: rows(300), pageBytes: 1500 });
    expect(pages.length).toBeGreaterThan(3);
    const whole = enc(body);
    const boundary = enc(pages[0]!).byteLength - 1; // the first page's last row ends here in the body
    for (const [range, start, end] of [
      ["bytes=5-20", 5, 20],
      [`bytes=${boundary - 4}-${boundary + 4}`, boundary - 4, boundary + 4],
      ["bytes=-10", whole.length - 10, whole.length - 1],
      [`bytes=${whole.length - 3}-`, whole.length - 3, whole.length - 1],
    ] as const) {
      for (const url of [`/v1/datasets/${dataset}`, `/v1/datasets/${dataset}/versions/${info.version}`]) {
        const res = await get(url, { Range: range });
        expect(res.status, `${url} ${range}`).toBe(206);
        expect(res.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${whole.length}`);
        expect(res.headers.get("Content-Length")).toBe(String(end - start + 1));
        expect(res.headers.get("ETag")).toBe(`"${info.hash}"`);
        expect(await bytesOf(res)).toEqual(whole.subarray(start, end + 1));
      }
    }
  });

  it("reads only the pages a body range spans", async () => {
    const dataset = uniqueDataset("range-reads");
    const { pages } = await publishFakeVersion(env, { dataset, records: rows(300), pageBytes: 1500 });
    const reads: string[] = [];
    const bucket = env.SNAPSHOTS;
    const counting = new Proxy(bucket, {
      get(target, property, receiver) {
        if (property === "get") return (key: string, options?: unknown) => (reads.push(key), target.get(key, options as R2GetOptions));
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const ctx = createExecutionContext();
    const last = enc(pages.at(-1)!).byteLength;
    const res = await createApp().fetch(new Request(`${BASE}/v1/datasets/${dataset}`, { headers: { Range: `bytes=-${last - 5}` } }), { ...env, SNAPSHOTS: counting } as Env, ctx);
    expect(res.status).toBe(206);
    await res.arrayBuffer();
    const pageReads = reads.filter((key) => key.includes("/pages/"));
    expect(pageReads).toHaveLength(1);
  });

  it("answers 416 with the length past the end, and the whole for a malformed range or several ranges", async () => {
    const dataset = uniqueDataset("range-416");
    const { body } = await publishFakeVersion(env, { dataset, records: rows(20) });
    const length = enc(body).byteLength;
    const past = await get(`/v1/datasets/${dataset}`, { Range: `bytes=${length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get("Content-Range")).toBe(`bytes */${length}`);
    expect(((await past.json()) as { error: { code: string } }).error.code).toBe("range_not_satisfiable");
    for (const range of ["bytes=9-1", "bytes=x-y", "bytes=0-1,5-9", "lines=0-1"]) {
      const res = await get(`/v1/datasets/${dataset}`, { Range: range });
      expect(res.status, range).toBe(200);
      expect(await res.text()).toBe(body);
    }
  });

  it("honours If-Range: the range for the current ETag, the whole 200 for another", async () => {
    const dataset = uniqueDataset("range-if");
    const { info, body } = await publishFakeVersion(env, { dataset, records: rows(20) });
    const matching = await get(`/v1/datasets/${dataset}`, { Range: "bytes=0-9", "If-Range": `"${info.hash}"` });
    expect(matching.status).toBe(206);
    expect(await matching.text()).toBe(body.slice(0, 10));
    const stale = await get(`/v1/datasets/${dataset}`, { Range: "bytes=0-9", "If-Range": '"an-older-version"' });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(body);
    // A matching If-None-Match still wins: 304 before any range.
    expect((await get(`/v1/datasets/${dataset}`, { Range: "bytes=0-9", "If-None-Match": `"${info.hash}"` })).status).toBe(304);
  });

  it("advertises Accept-Ranges on GET and HEAD, and HEAD ignores the range", async () => {
    const dataset = uniqueDataset("range-head");
    const { info } = await publishFakeVersion(env, { dataset, records: rows(20), key: "id", formats: { csv: "id,text\r\nr0000,row 0\r\n" } });
    for (const path of [`/v1/datasets/${dataset}`, `/v1/datasets/${dataset}/pages/1`, `/v1/datasets/${dataset}/items/r0003`, `/v1/datasets/${dataset}.csv`, `/v1/datasets/${dataset}/pages/${info.pages[0]!.sha256}`]) {
      const head = await get(path, { Range: "bytes=0-1" }, "HEAD");
      expect(head.status, path).toBe(200);
      expect(head.headers.get("Accept-Ranges"), path).toBe("bytes");
      expect((await get(path)).headers.get("Accept-Ranges"), path).toBe("bytes");
    }
  });

  it("answers 206 on a page (by number and by hash), an item and a format", async () => {
    const dataset = uniqueDataset("range-kinds");
    const csv = "id,text\r\nr0000,row 0\r\nr0001,row 1\r\n";
    const { info, pages } = await publishFakeVersion(env, { dataset, records: rows(40), key: "id", formats: { csv }, pageBytes: 600 });
    const page = enc(pages[1]!);
    for (const path of [`/v1/datasets/${dataset}/pages/2`, `/v1/datasets/${dataset}/versions/${info.version}/pages/2`, `/v1/datasets/${dataset}/pages/${info.pages[1]!.sha256}`]) {
      const res = await get(path, { Range: "bytes=1-7" });
      expect(res.status, path).toBe(206);
      expect(await bytesOf(res), path).toEqual(page.subarray(1, 8));
    }
    const item = JSON.stringify(rows(40)[12]);
    const itemRange = await get(`/v1/datasets/${dataset}/items/r0012`, { Range: "bytes=-6" });
    expect(itemRange.status).toBe(206);
    expect(itemRange.headers.get("Content-Range")).toBe(`bytes ${enc(item).length - 6}-${enc(item).length - 1}/${enc(item).length}`);
    expect(await bytesOf(itemRange)).toEqual(enc(item).subarray(-6));
    const format = await get(`/v1/datasets/${dataset}.csv`, { Range: "bytes=8-" });
    expect(format.status).toBe(206);
    expect(await format.text()).toBe(csv.slice(8));
  });
});
