/**
 * Corrupt and missing objects, inside workerd: bytes that do not match their hash are never
 * answered under that ETag. A page, an item, a format or a body whose first page is missing,
 * truncated or same-length junk answers the clear 503 JSON before any byte is sent (R2's own
 * checksum and the size tell); a later page that turns out wrong cuts the answer instead; an object
 * the store keeps no checksum of is hashed as it passes and cut before its last bytes; a head whose
 * current version has no index answers 503 too; each is logged with the key.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { itemShardObjectKey, versionIndexKey } from "../../contract/index.ts";
import { forgetParsedIndexes } from "../../edge/read/versions.ts";
import { BASE, pageKey, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${String(i).padStart(4, "0")}`, text: `row ${i} ${"x".repeat(i % 30)}` }));

/** Same-length junk: the stored bytes with one byte changed (R2 then keeps the new bytes' checksum). */
async function junk(key: string): Promise<void> {
  const bytes = new Uint8Array(await (await env.SNAPSHOTS.get(key))!.arrayBuffer());
  bytes[Math.floor(bytes.length / 2)] = 0x41 === bytes[Math.floor(bytes.length / 2)] ? 0x42 : 0x41;
  await env.SNAPSHOTS.put(key, bytes, { sha256: await crypto.subtle.digest("SHA-256", bytes) });
}

async function expectUnavailable(res: Response, key: string): Promise<void> {
  expect(res.status).toBe(503);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("unavailable");
  expect(body.error.message).toContain(key);
  expect(res.headers.get("Cache-Control")).toBe("no-store");
}

describe("corrupt or missing objects", () => {
  const logged: string[] = [];
  const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => void logged.push(String(line)));
  afterEach(() => {
    logged.length = 0;
    forgetParsedIndexes();
  });

  it("answers 503 JSON, before any byte, for a page that is missing, truncated or same-length junk", async () => {
    for (const damage of ["missing", "truncated", "junk"] as const) {
      const dataset = uniqueDataset(`page-${damage}`);
      const published = await publishFakeVersion(env, { dataset, records: rows(100), pageBytes: 800 });
      const key = pageKey(published, 2);
      if (damage === "missing") await env.SNAPSHOTS.delete(key);
      if (damage === "truncated") await env.SNAPSHOTS.put(key, published.pages[1]!.slice(0, 10));
      if (damage === "junk") await junk(key);
      for (const path of [`/v1/datasets/${dataset}/pages/2`, `/v1/datasets/${dataset}/versions/${published.info.version}/pages/2`, `/v1/datasets/${dataset}/pages/${published.info.pages[1]!.sha256}`]) {
        // A page asked for by its hash that is not stored is simply not there.
        if (damage === "missing" && path.endsWith(published.info.pages[1]!.sha256)) {
          expect((await SELF.fetch(`${BASE}${path}`)).status, path).toBe(404);
          continue;
        }
        await expectUnavailable(await SELF.fetch(`${BASE}${path}`), key);
      }
      expect(logged.some((line) => line.includes(key)), damage).toBe(true);
    }
  });

  it("logs each in the one log shape: { time, level, event, path, error: { message, code } }", async () => {
    const dataset = uniqueDataset("logged");
    const published = await publishFakeVersion(env, { dataset, records: rows(40), pageBytes: 800 });
    await env.SNAPSHOTS.delete(pageKey(published, 1));
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}/pages/1`)).status).toBe(503);
    const entries = logged.map((line) => JSON.parse(line) as Record<string, unknown>);
    const entry = entries.find((e) => e.event === "unreadable object");
    expect(entry).toMatchObject({ level: "error", path: `/v1/datasets/${dataset}/pages/1`, error: { code: "corrupt" } });
    expect(Number.isNaN(Date.parse(String(entry!.time)))).toBe(false);
    expect(String((entry!.error as { message: string }).message)).toContain(pageKey(published, 1));
    expect(entries.every((e) => typeof e.event === "string" && !("msg" in e))).toBe(true);
  });

  it("answers 503 for a body whose first page is wrong, and cuts a body whose later page is", async () => {
    const dataset = uniqueDataset("body");
    const published = await publishFakeVersion(env, { dataset, records: rows(200), pageBytes: 800 });
    await junk(pageKey(published, 1));
    await expectUnavailable(await SELF.fetch(`${BASE}/v1/datasets/${dataset}`), pageKey(published, 1));

    const later = uniqueDataset("body-later");
    const second = await publishFakeVersion(env, { dataset: later, records: rows(200), pageBytes: 800 });
    await env.SNAPSHOTS.put(pageKey(second, 3), second.pages[2]!.slice(0, 5));
    const res = await SELF.fetch(`${BASE}/v1/datasets/${later}`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(logged.some((line) => line.includes(pageKey(second, 3)))).toBe(true);
  });

  it("hashes an object the store keeps no checksum of before answering, and answers 503 when it does not match", async () => {
    const dataset = uniqueDataset("no-checksum");
    const published = await publishFakeVersion(env, { dataset, records: rows(40) });
    const key = pageKey(published, 1);
    const text = published.pages[0]!;
    // Same length, written without a checksum (as a multipart upload is): only hashing the bytes tells.
    await env.SNAPSHOTS.put(key, `${text.slice(0, -3)}XX]`);
    for (const path of [`/v1/datasets/${dataset}/pages/1`, `/v1/datasets/${dataset}`, `/v1/datasets/${dataset}/pages/${published.info.pages[0]!.sha256}`]) {
      await expectUnavailable(await SELF.fetch(`${BASE}${path}`), key);
    }
    expect(logged.some((line) => line.includes(key) && line.includes("sha256"))).toBe(true);
    // The same bytes with no checksum but matching: served whole.
    await env.SNAPSHOTS.put(key, text);
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}/pages/1`)).text()).toBe(text);
  });

  it("answers 503 for an item whose page or index shard is junk, and for a format that does not match", async () => {
    const dataset = uniqueDataset("item");
    const published = await publishFakeVersion(env, { dataset, records: rows(30), key: "id", formats: { csv: "id\r\nr0000\r\n" } });
    const shard = itemShardObjectKey(dataset, (published.info.items as { shards: string[] }).shards[0]!);
    await junk(shard);
    await expectUnavailable(await SELF.fetch(`${BASE}/v1/datasets/${dataset}/items/r0003`), shard);
    const format = `datasets/${dataset}/versions/${published.info.version}/data.csv`;
    await junk(format);
    await expectUnavailable(await SELF.fetch(`${BASE}/v1/datasets/${dataset}.csv`), format);
  });

  it("answers 503 when the head's current version has no index", async () => {
    const dataset = uniqueDataset("no-index");
    const published = await publishFakeVersion(env, { dataset, records: rows(5) });
    await env.SNAPSHOTS.delete(versionIndexKey(dataset, published.info.version));
    await expectUnavailable(await SELF.fetch(`${BASE}/v1/datasets/${dataset}`), versionIndexKey(dataset, published.info.version));
    spy.mockClear();
  });
});

describe("verifiedStream (large objects the store keeps no checksum of)", () => {
  it("passes bytes that match, and holds back the last chunk and errors when they do not", async () => {
    const { verifiedStream } = await import("../../edge/read/bodies.ts");
    const chunks = ["[1,", "2,", "3]"].map((text) => new TextEncoder().encode(text));
    const source = () => new ReadableStream<Uint8Array>({ start(controller) { for (const chunk of chunks) controller.enqueue(chunk); controller.close(); } });
    const sha = async (text: string) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))), (b) => b.toString(16).padStart(2, "0")).join("");
    expect(await new Response(verifiedStream("k", source(), await sha("[1,2,3]"))).text()).toBe("[1,2,3]");
    const reader = verifiedStream("k", source(), await sha("[1,2,4]")).getReader();
    const received: string[] = [];
    const failure = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return null;
        received.push(new TextDecoder().decode(value));
      }
    })().catch((error: unknown) => error);
    expect(received.join("")).toBe("[1,2,");
    expect(String(failure)).toMatch(/k holds bytes whose sha256 is/);
  });
});
