/**
 * The storage contract: one suite every driver of the storage interface must pass (the R2 binding
 * inside workerd, the local Worker's storage API, wrangler's local runtime, R2 over its S3 API), so
 * the manifest protocol and the Worker can rely on the same behaviour whichever driver wrote the
 * bucket. A driver's own test file calls `describeStoreContract` with a factory and adds only what
 * is specific to it (multipart requests, retries, fault injection). Web-standard APIs only: the
 * suite runs in Node and inside workerd alike.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { acquireLease, assertLeaseHeld, listLeases, readLease, releaseLease, renewLease } from "../../contract/protocol/leases.ts";
import type { ObjectStore } from "../../contract/storage.ts";

export interface StoreContractOptions {
  /** Opens the store under test; called once for the whole suite and closed after it. */
  open: () => Promise<ObjectStore>;
  /**
   * Size of the large streamed upload. For drivers with multipart uploads, make it exceed the
   * multipart threshold the factory configured, with a partial last part. Default 12 MiB + 123 B.
   */
  largeBodyBytes?: number;
}

const encoder = new TextEncoder();

/** A deterministic, non-repeating-looking body of `size` bytes. */
export function patternBytes(size: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = seed;
  for (let index = 0; index < size; index += 1) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    bytes[index] = state >>> 16;
  }
  return bytes;
}

/** Streams `bytes` in chunks of `chunkSize`, the way a serializer would produce them. */
export function streamOf(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** Lowercase hex sha256 (Web Crypto, so the suite runs in workerd too). */
export async function sha256Hex(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; chunks: number }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  const bytes = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return { bytes, chunks: parts.length };
}

/** A put refused by its precondition answers null and writes nothing. */
async function expectPreconditionFailed(promise: Promise<unknown>): Promise<void> {
  expect(await promise).toBeNull();
}

/** Registers the storage contract tests for one driver. */
export function describeStoreContract(name: string, options: StoreContractOptions): void {
  describe(`storage contract: ${name}`, () => {
    let store: ObjectStore;
    let prefix: string;

    beforeAll(async () => {
      store = await options.open();
      prefix = `contract-${crypto.randomUUID()}`;
    });
    afterAll(async () => {
      await store?.close();
    });

    /** A fresh folder per test, so tests never see each other's objects. */
    const folder = () => `${prefix}/${crypto.randomUUID().slice(0, 8)}`;

    describe("put and get", () => {
      test("a stored string reads back byte for byte with its size, etag and upload time", async () => {
        const key = `${folder()}/manifest.json`;
        const text = '{"dataset":"airport-delays","note":"héllo ✈"}';
        const before = Date.now();
        const info = (await store.put(key, text, { contentType: "application/json" }))!;
        expect(info.key).toBe(key);
        expect(info.size).toBe(encoder.encode(text).byteLength);
        expect(info.etag).toMatch(/^[^"]+$/);
        expect(Math.abs(info.uploaded.getTime() - before)).toBeLessThan(60_000);

        const object = await store.get(key);
        expect(object).not.toBeNull();
        expect(object!.etag).toBe(info.etag);
        expect(object!.size).toBe(info.size);
        expect(await object!.text()).toBe(text);
      });

      test("binary bytes survive a round trip unchanged", async () => {
        const key = `${folder()}/data.bin`;
        const bytes = patternBytes(70_001);
        await store.put(key, bytes);
        const object = await store.get(key);
        const { bytes: back } = await readAll(object!.body);
        expect(await sha256Hex(back)).toBe(await sha256Hex(bytes));
      });

      test("an empty body is stored as an empty object", async () => {
        const key = `${folder()}/empty`;
        const info = (await store.put(key, ""))!;
        expect(info.size).toBe(0);
        const object = await store.get(key);
        expect(object!.size).toBe(0);
        expect(await object!.text()).toBe("");
      });

      test("a streamed body is stored whole, and get returns the body as a stream", async () => {
        const key = `${folder()}/data.json`;
        const bytes = patternBytes(300_000, 11);
        const info = (await store.put(key, streamOf(bytes, 10_000), { sha256: await sha256Hex(bytes) }))!;
        expect(info.size).toBe(bytes.byteLength);
        const object = await store.get(key);
        expect(object!.body).toBeInstanceOf(ReadableStream);
        const { bytes: back } = await readAll(object!.body);
        expect(back.byteLength).toBe(bytes.byteLength);
        expect(await sha256Hex(back)).toBe(await sha256Hex(bytes));
      });

      test("a large streamed body (past the multipart threshold) uploads whole and verifies its sha256", async () => {
        const key = `${folder()}/large.json`;
        const bytes = patternBytes(options.largeBodyBytes ?? 12 * 1024 * 1024 + 123, 3);
        const info = (await store.put(key, streamOf(bytes, 256 * 1024), {
          sha256: await sha256Hex(bytes),
          customMetadata: { rows: "42" },
        }))!;
        expect(info.size).toBe(bytes.byteLength);
        const head = await store.head(key);
        expect(head!.size).toBe(bytes.byteLength);
        expect(head!.etag).toBe(info.etag);
        expect(head!.customMetadata).toEqual({ rows: "42" });
        const { bytes: back } = await readAll((await store.get(key))!.body);
        expect(await sha256Hex(back)).toBe(await sha256Hex(bytes));
      }, 120_000);

      test("overwriting a key replaces the content and changes the etag", async () => {
        const key = `${folder()}/manifest.json`;
        const first = (await store.put(key, "one"))!;
        const second = (await store.put(key, "two"))!;
        expect(second.etag).not.toBe(first.etag);
        expect(await (await store.get(key))!.text()).toBe("two");
      });

      test("customMetadata is returned by put, get and head", async () => {
        const key = `${folder()}/data.json`;
        const customMetadata = { "content-sha256": await sha256Hex("x"), rows: "1", version: "20261123T101500Z-abc" };
        const info = (await store.put(key, "x", { customMetadata }))!;
        expect(info.customMetadata).toEqual(customMetadata);
        expect((await store.get(key))!.customMetadata).toEqual(customMetadata);
        expect((await store.head(key))!.customMetadata).toEqual(customMetadata);
      });

      test("an object without customMetadata reports an empty record", async () => {
        const key = `${folder()}/plain`;
        await store.put(key, "x");
        expect((await store.head(key))!.customMetadata).toEqual({});
      });

      test("keys with spaces, +, &, < and non-ASCII letters round-trip through put, get and list", async () => {
        const base = folder();
        const key = `${base}/a b+c&d<e>'f"(g)*é✈.json`;
        await store.put(key, "odd");
        expect(await (await store.get(key))!.text()).toBe("odd");
        const listed = await store.list(`${base}/`);
        expect(listed.objects.map((object) => object.key)).toEqual([key]);
      });

      test("a body whose sha256 does not match is refused and nothing is stored", async () => {
        const key = `${folder()}/data.json`;
        await expect(store.put(key, "actual body", { sha256: await sha256Hex("another body") })).rejects.toThrow(/sha-?256|checksum|digest/i);
        expect(await store.head(key)).toBeNull();
      });

      test("a body with the right sha256 is accepted", async () => {
        const key = `${folder()}/data.json`;
        const info = (await store.put(key, "exact body", { sha256: await sha256Hex("exact body") }))!;
        expect(info.size).toBe(10);
      });
    });

    describe("range reads", () => {
      test("a range read returns exactly those bytes of the object", async () => {
        const key = `${folder()}/page.json`;
        const bytes = patternBytes(100_000, 5);
        await store.put(key, bytes);
        const part = await store.get(key, { range: { offset: 1_000, length: 5_000 } });
        const { bytes: back } = await readAll(part!.body);
        expect(back).toEqual(bytes.slice(1_000, 6_000));
        const tail = await store.get(key, { range: { offset: 99_999, length: 1 } });
        expect((await readAll(tail!.body)).bytes).toEqual(bytes.slice(99_999));
      });
    });

    describe("missing objects", () => {
      test("get returns null for a key that does not exist", async () => {
        expect(await store.get(`${folder()}/nothing.json`)).toBeNull();
      });

      test("head returns null for a key that does not exist", async () => {
        expect(await store.head(`${folder()}/nothing.json`)).toBeNull();
      });

      test("deleting a key that does not exist succeeds", async () => {
        await expect(store.delete(`${folder()}/nothing.json`)).resolves.toBeUndefined();
      });
    });

    describe("head", () => {
      test("head reports the same etag, size and metadata as get, without a body", async () => {
        const key = `${folder()}/data.json`;
        const info = (await store.put(key, "0123456789", { customMetadata: { rows: "10" } }))!;
        const head = await store.head(key);
        expect(head).toMatchObject({ key, etag: info.etag, size: 10, customMetadata: { rows: "10" } });
        expect(head).not.toHaveProperty("body");
        expect(head!.uploaded).toBeInstanceOf(Date);
      });
    });

    describe("list", () => {
      test("lists only keys under the prefix, in key order, with etag and size", async () => {
        const base = folder();
        const infos = [];
        for (const name of ["b.json", "a.json", "c/d.json"]) infos.push((await store.put(`${base}/in/${name}`, name))!);
        await store.put(`${base}/inside.json`, "not under in/");
        await store.put(`${base}/out/x.json`, "x");
        const result = await store.list(`${base}/in/`);
        expect(result.objects.map((object) => object.key)).toEqual([`${base}/in/a.json`, `${base}/in/b.json`, `${base}/in/c/d.json`]);
        expect(result.prefixes).toEqual([]);
        expect(result.cursor).toBeUndefined();
        const a = result.objects[0]!;
        expect(a.size).toBe(6);
        expect(a.etag).toBe(infos[1]!.etag);
        expect(a.uploaded).toBeInstanceOf(Date);
      });

      test("a delimiter groups deeper keys into prefixes, like a folder listing", async () => {
        const base = folder();
        await store.put(`${base}/datasets/airport-delays/manifest.json`, "{}");
        await store.put(`${base}/datasets/airport-delays/versions/v1/data.json`, "[]");
        await store.put(`${base}/datasets/busiest-routes/manifest.json`, "{}");
        await store.put(`${base}/datasets/readme.txt`, "hi");
        const result = await store.list(`${base}/datasets/`, { delimiter: "/" });
        expect(result.prefixes).toEqual([`${base}/datasets/airport-delays/`, `${base}/datasets/busiest-routes/`]);
        expect(result.objects.map((object) => object.key)).toEqual([`${base}/datasets/readme.txt`]);
      });

      test("a limit pages through the listing with a cursor, each key exactly once", async () => {
        const base = folder();
        const keys = ["k0", "k1", "k2", "k3", "k4"].map((name) => `${base}/${name}`);
        for (const key of keys) await store.put(key, key);
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list(`${base}/`, { limit: 2, cursor });
          expect(page.objects.length).toBeLessThanOrEqual(2);
          seen.push(...page.objects.map((object) => object.key));
          cursor = page.cursor;
          pages += 1;
          expect(pages).toBeLessThan(10);
        } while (cursor);
        expect(seen).toEqual(keys);
        expect(pages).toBeGreaterThanOrEqual(3);
      });

      test("listing an empty prefix returns nothing and no cursor", async () => {
        const result = await store.list(`${folder()}/`);
        expect(result).toEqual({ objects: [], prefixes: [], cursor: undefined });
      });
    });

    describe("delete", () => {
      test("deleting one key removes it and leaves its neighbours", async () => {
        const base = folder();
        await store.put(`${base}/a`, "a");
        await store.put(`${base}/b`, "b");
        await store.delete(`${base}/a`);
        expect(await store.get(`${base}/a`)).toBeNull();
        expect(await store.head(`${base}/b`)).not.toBeNull();
      });

      test("deleting a list of keys removes all of them, missing ones included", async () => {
        const base = folder();
        const keys = ["a", "b b", "c&d"].map((name) => `${base}/${name}`);
        for (const key of keys) await store.put(key, key);
        await store.delete([...keys, `${base}/never-existed`]);
        expect((await store.list(`${base}/`)).objects).toEqual([]);
      });
    });

    describe("conditional writes (compare-and-swap)", () => {
      test("ifNoneMatch '*' creates an object that does not exist yet", async () => {
        const key = `${folder()}/manifest.json`;
        const info = (await store.put(key, "first", { ifNoneMatch: "*" }))!;
        expect((await store.head(key))!.etag).toBe(info.etag);
      });

      test("ifNoneMatch '*' refuses to overwrite an existing object: put answers null", async () => {
        const key = `${folder()}/manifest.json`;
        await store.put(key, "first");
        await expectPreconditionFailed(store.put(key, "second", { ifNoneMatch: "*" }));
        expect(await (await store.get(key))!.text()).toBe("first");
      });

      test("ifMatch with the current etag replaces the object", async () => {
        const key = `${folder()}/manifest.json`;
        const first = (await store.put(key, "v1"))!;
        const second = (await store.put(key, "v2", { ifMatch: first.etag }))!;
        expect(second.etag).not.toBe(first.etag);
        expect(await (await store.get(key))!.text()).toBe("v2");
      });

      test("ifMatch with a stale etag answers null and leaves the newer object in place", async () => {
        const key = `${folder()}/manifest.json`;
        const first = (await store.put(key, "v1"))!;
        await store.put(key, "v2");
        await expectPreconditionFailed(store.put(key, "v3", { ifMatch: first.etag }));
        expect(await (await store.get(key))!.text()).toBe("v2");
      });

      test("ifMatch on a key that does not exist answers null and creates nothing", async () => {
        const key = `${folder()}/manifest.json`;
        await expectPreconditionFailed(store.put(key, "v1", { ifMatch: "0123456789abcdef0123456789abcdef" }));
        expect(await store.head(key)).toBeNull();
      });

      test("of two writers swapping the same manifest at once, exactly one wins and the other gets null", async () => {
        const key = `${folder()}/manifest.json`;
        const base = (await store.put(key, JSON.stringify({ current: "v1", history: ["v1"] })))!;
        const writers = ["a", "b"].map((writer) =>
          store.put(key, JSON.stringify({ current: `v2-${writer}`, history: ["v1", `v2-${writer}`] }), { ifMatch: base.etag }),
        );
        const results = await Promise.all(writers);
        const won = results.filter((result) => result !== null);
        expect(won).toHaveLength(1);
        expect(results.filter((result) => result === null)).toHaveLength(1);
        const winner = results[0] !== null ? "a" : "b";
        const stored = JSON.parse(await (await store.get(key))!.text()) as { current: string };
        expect(stored.current).toBe(`v2-${winner}`);
      });

      test("the writer that lost re-reads the manifest and its retry keeps both writers' versions", async () => {
        const key = `${folder()}/manifest.json`;
        const base = (await store.put(key, JSON.stringify({ history: ["v1"] })))!;
        // Writer A publishes v2 first.
        await store.put(key, JSON.stringify({ history: ["v1", "v2"] }), { ifMatch: base.etag });
        // Writer B computed v3 from the old manifest: refused, so it re-reads and appends.
        await expectPreconditionFailed(store.put(key, JSON.stringify({ history: ["v1", "v3"] }), { ifMatch: base.etag }));
        const fresh = (await store.get(key))!;
        const manifest = JSON.parse(await fresh.text()) as { history: string[] };
        await store.put(key, JSON.stringify({ history: [...manifest.history, "v3"] }), { ifMatch: fresh.etag });
        expect(JSON.parse(await (await store.get(key))!.text())).toEqual({ history: ["v1", "v2", "v3"] });
      });
    });

    describe("leases (contract/protocol/leases.ts over this driver)", () => {
      const TTL = 25_000;
      const T0 = Date.parse("2026-12-01T12:00:00.000Z");
      const at = (seconds: number) => new Date(T0 + seconds * 1000);
      const slot = (seconds: number) => at(seconds).toISOString();
      /** A dataset name of its own per test: leases live at the bucket's root (`leases/`). */
      const dataset = () => `lease-${crypto.randomUUID().slice(0, 8)}`;

      test("a free lease is granted with token 1; another holder is refused while it holds, and takes over with token 2 once it expired", async () => {
        const name = dataset();
        const first = await acquireLease(store, name, "a", { now: at(0), ttlMs: TTL });
        expect(first).toMatchObject({ acquired: true, takeover: false, grant: { dataset: name, holder: "a", token: 1 } });
        expect(await acquireLease(store, name, "b", { now: at(24), ttlMs: TTL })).toMatchObject({ acquired: false, reason: "held", lease: { holder: "a" } });
        const taken = await acquireLease(store, name, "b", { now: at(25), ttlMs: TTL });
        expect(taken).toMatchObject({ acquired: true, takeover: true, previousHolder: "a", grant: { holder: "b", token: 2 } });
        expect(await readLease(store, name)).toMatchObject({ holder: "b", token: 2, expires_at: at(50).toISOString() });
      });

      test("the holder that lost its lease cannot renew or release it, and its token is fenced out", async () => {
        const name = dataset();
        const old = await acquireLease(store, name, "a", { now: at(0), ttlMs: TTL });
        const taken = await acquireLease(store, name, "b", { now: at(30), ttlMs: TTL });
        if (!old.acquired || !taken.acquired) throw new Error("expected both grants");
        expect(await renewLease(store, old.grant, { now: at(31), ttlMs: TTL })).toBeNull();
        expect(await releaseLease(store, old.grant, { now: at(31) })).toBe(false);
        await expect(assertLeaseHeld(store, name, old.grant.token)).rejects.toMatchObject({ name: "ProtocolError", code: "conflict" });
        await expect(assertLeaseHeld(store, name, taken.grant.token)).resolves.toBeUndefined();
        expect(await readLease(store, name)).toMatchObject({ holder: "b", token: 2 });
        // With no lease at all, nothing is held.
        await expect(assertLeaseHeld(store, dataset(), 1)).rejects.toMatchObject({ code: "conflict" });
      });

      test("renewing extends the lease from now; releasing frees it at once for another holder, with a new token", async () => {
        const name = dataset();
        const first = await acquireLease(store, name, "a", { now: at(0), ttlMs: TTL });
        if (!first.acquired) throw new Error("expected a grant");
        const renewed = await renewLease(store, first.grant, { now: at(20), ttlMs: TTL });
        expect(renewed).toMatchObject({ token: 1, expiresAt: at(45).toISOString() });
        expect(await acquireLease(store, name, "b", { now: at(40), ttlMs: TTL })).toMatchObject({ acquired: false, reason: "held" });
        expect(await releaseLease(store, renewed!, { now: at(41) })).toBe(true);
        expect(await acquireLease(store, name, "b", { now: at(41), ttlMs: TTL })).toMatchObject({ acquired: true, takeover: false, grant: { holder: "b", token: 2 } });
      });

      test("a cron slot is claimed once: a second claim of it is refused, even after the lease was released; a later slot is not", async () => {
        const name = dataset();
        const claimed = await acquireLease(store, name, "a", { now: at(0), ttlMs: TTL, claimSlot: slot(0) });
        if (!claimed.acquired) throw new Error("expected a grant");
        await releaseLease(store, claimed.grant, { now: at(2) });
        expect(await acquireLease(store, name, "b", { now: at(3), ttlMs: TTL, claimSlot: slot(0) })).toMatchObject({ acquired: false, reason: "slot-taken" });
        expect(await acquireLease(store, name, "b", { now: at(5), ttlMs: TTL, claimSlot: slot(5) })).toMatchObject({ acquired: true, grant: { holder: "b" } });
        // A retry of slot 0 is superseded by slot 5; a retry of slot 5 may go on.
        expect(await acquireLease(store, name, "b", { now: at(6), ttlMs: TTL, resumeSlot: slot(0) })).toMatchObject({ acquired: false, reason: "slot-taken" });
        expect(await acquireLease(store, name, "b", { now: at(6), ttlMs: TTL, resumeSlot: slot(5) })).toMatchObject({ acquired: true });
        expect(await readLease(store, name)).toMatchObject({ last_slot: slot(5) });
      });

      test("of three schedulers claiming the same slot at once, exactly one gets it", async () => {
        const name = dataset();
        const results = await Promise.all(["a", "b", "c"].map((holder) => acquireLease(store, name, holder, { now: at(0), ttlMs: TTL, claimSlot: slot(0) })));
        expect(results.filter((r) => r.acquired)).toHaveLength(1);
        expect(results.filter((r) => !r.acquired).map((r) => (r.acquired ? "" : r.reason)).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^(held|slot-taken)$/)]));
        const winner = results.find((r) => r.acquired)!;
        expect(await readLease(store, name)).toMatchObject({ holder: winner.acquired ? winner.grant.holder : "", token: 1, last_slot: slot(0) });
      });

      test("lists the leases, so a scheduler finds one whose holder died", async () => {
        const name = dataset();
        await acquireLease(store, name, "dead", { now: at(0), ttlMs: TTL });
        expect((await listLeases(store)).find((lease) => lease.dataset === name)).toMatchObject({ holder: "dead", expires_at: at(25).toISOString() });
      });
    });

    test("close can be called twice", async () => {
      const second = await options.open();
      await second.close();
      await expect(second.close()).resolves.toBeUndefined();
    });
  });
}
