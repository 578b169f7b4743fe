/**
 * The local Worker's storage API inside workerd (turned on as `npm start` turns it on): a malformed
 * list limit or byte range is a 400 that names it, never a 500, and a delete body past its limit
 * is a 413. The happy paths run against a real `wrangler dev` in test/storage/worker.test.ts.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../edge/app.ts";
import { BASE, uniqueDataset } from "./publish-fixture.ts";

const TOKEN = "test-token-0123456789abcdef0123456789abcdef";

/** A storage API call on a Worker whose storage API is on. */
function storageApi(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = { Authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string> | undefined) };
  const request = new Request(`${BASE}/internal/v1/storage${path}`, { ...init, headers });
  return Promise.resolve(createApp().fetch(request, { ...env, EDGESNAP_STORAGE_API: "on" } as unknown as Env, createExecutionContext()));
}

async function errorOf(res: Response): Promise<{ status: number; message: string }> {
  const body = (await res.json()) as { error: { message: string } };
  return { status: res.status, message: body.error.message };
}

describe("storage API: bad queries", () => {
  it.each(["abc", "0", "-1", "1.5", "1e3", "1001", "5000", ""])("answers 400 naming the range to a list limit of %j", async (limit) => {
    const res = await storageApi(`/list?prefix=x%2F&limit=${encodeURIComponent(limit)}`);
    expect(await errorOf(res)).toEqual({ status: 400, message: `limit must be an integer from 1 to 1000, not ${JSON.stringify(limit)}` });
  });

  it("lists with a limit from 1 to 1000", async () => {
    const prefix = `${uniqueDataset("list")}/`;
    await Promise.all(["a", "b", "c"].map((name) => env.SNAPSHOTS.put(`${prefix}${name}`, name)));
    const one = (await (await storageApi(`/list?prefix=${encodeURIComponent(prefix)}&limit=1`)).json()) as { objects: unknown[]; cursor: string | null };
    expect(one.objects).toHaveLength(1);
    expect(one.cursor).not.toBeNull();
    const all = (await (await storageApi(`/list?prefix=${encodeURIComponent(prefix)}&limit=1000`)).json()) as { objects: unknown[] };
    expect(all.objects).toHaveLength(3);
  });

  it.each([
    ["a negative offset", "offset=-1&length=2"],
    ["an offset without a length", "offset=2"],
    ["a length without an offset", "length=2"],
    ["a zero length", "offset=2&length=0"],
    ["an offset that is not an integer", "offset=abc&length=1"],
    ["an offset in exponent notation", "offset=1e20&length=1"],
  ])("answers 400 to a ranged read with %s", async (_, query) => {
    const key = `${uniqueDataset("range")}/a.txt`;
    await env.SNAPSHOTS.put(key, "hello world");
    expect(await errorOf(await storageApi(`/objects/${encodeURIComponent(key)}?${query}`))).toEqual({
      status: 400,
      message: "a ranged read takes offset (an integer from 0) and length (an integer from 1), both",
    });
  });

  it("answers 400 with the object's size to a range that starts at or past its end, 404 for a missing object, and reads a range that runs past the end up to the end", async () => {
    const key = `${uniqueDataset("range")}/a.txt`;
    await env.SNAPSHOTS.put(key, "hello world");
    for (const offset of [11, 100]) {
      expect(await errorOf(await storageApi(`/objects/${encodeURIComponent(key)}?offset=${offset}&length=2`))).toEqual({
        status: 400,
        message: `offset ${offset} is at or past the end of the object (11 bytes)`,
      });
    }
    expect((await storageApi(`/objects/${encodeURIComponent(`${key}.missing`)}?offset=100&length=2`)).status).toBe(404);
    const tail = await storageApi(`/objects/${encodeURIComponent(key)}?offset=6&length=100`);
    expect(tail.status).toBe(200);
    expect(await tail.text()).toBe("world");
  });

  it("answers 413 to a delete body over 2 MiB, and deletes nothing", async () => {
    const key = `${uniqueDataset("delete")}/a.txt`;
    await env.SNAPSHOTS.put(key, "keep me");
    const body = JSON.stringify({ keys: [key, "x".repeat(3 * 1024 * 1024)] });
    const res = await storageApi("/delete", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    expect(await errorOf(res)).toEqual({ status: 413, message: "refused a request body over 2097152 bytes" });
    expect(await env.SNAPSHOTS.head(key)).not.toBeNull();
  });
});
