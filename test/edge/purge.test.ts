/**
 * Purging Workers Cache by tag, inside workerd with a stub `ctx.cache` (Miniflare has no Workers
 * Cache; the stub records calls): what each manifest change purges, that the Free plan's purge
 * limits hold across calls (a bucket of 25, 5 a minute, 100 tags a call) with the rest queued and
 * sent by the cron, that a failed purge is retried and never fails the change, and that the Cache
 * API stays out of the way where Workers Cache exists.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../edge/index.ts";
import { cacheKey } from "../../edge/read/cache.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { initialPurgeState, planPurge, PURGE_LIMITS, PURGE_STATE_KEY, PurgeStateSchema, purgeTags, type TagPurger } from "../../edge/sync/purge.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

type PurgeAnswer = { success: boolean; errors: { code: number; message: string }[] };

/** A stand-in for Workers Cache's `ctx.cache` that records every purge call. */
function stubCache(answer: (tags: string[]) => PurgeAnswer | Promise<PurgeAnswer> = () => ({ success: true, errors: [] })) {
  const calls: string[][] = [];
  const cache: TagPurger & { invalidate: TagPurger["purge"] } = {
    async purge({ tags }) {
      calls.push(tags);
      return answer(tags);
    },
    async invalidate() {
      throw new Error("not used");
    },
  };
  return { cache, calls };
}

/** An execution context like production's: the runtime's waitUntil plus Workers Cache. */
function contextWith(cache: TagPurger): { ctx: ExecutionContext; settle: () => Promise<void> } {
  const real = createExecutionContext();
  const ctx = { waitUntil: (p: Promise<unknown>) => real.waitUntil(p), passThroughOnException: () => {}, props: {}, cache } as unknown as ExecutionContext;
  return { ctx, settle: () => waitOnExecutionContext(real) };
}

async function call(cache: TagPurger, path: string, init: RequestInit = {}): Promise<Response> {
  const { ctx, settle } = contextWith(cache);
  const res = await worker.fetch(new Request(`${BASE}${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
  await settle();
  return res;
}

function post(cache: TagPurger, path: string, body?: unknown): Promise<Response> {
  return call(cache, path, {
    method: "POST",
    headers: { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function storedState() {
  return PurgeStateSchema.parse(JSON.parse(await (await env.SNAPSHOTS.get(PURGE_STATE_KEY))!.text()));
}

const T0 = new Date("2026-11-30T12:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

beforeEach(async () => {
  await env.SNAPSHOTS.delete(PURGE_STATE_KEY);
});

describe("what a manifest change purges through ctx.cache", () => {
  it("a publish notice purges the dataset's current URLs and the catalog, by tag, in one call", async () => {
    const dataset = uniqueDataset("notice-purge");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { cache, calls } = stubCache();
    const res = await post(cache, "/internal/v1/publish-notice", { dataset, version: info.version });
    expect(res.status).toBe(200);
    expect(calls).toEqual([[`ds:${dataset}:current`, "catalog"]]);
  });

  it("rollback, pin and unpin purge the same tags; a prune also purges the dropped versions' tags", async () => {
    const dataset = uniqueDataset("operator-purge");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const v2 = await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    const v3 = await publishFakeVersion(env, { dataset, records: [{ v: 3 }] });
    const { cache, calls } = stubCache();
    const current = [`ds:${dataset}:current`, "catalog"];

    expect((await post(cache, `/admin/v1/datasets/${dataset}/rollback`, { version: v2.info.version, pin: false })).status).toBe(200);
    expect(calls.at(-1)).toEqual(current);
    expect((await post(cache, `/admin/v1/datasets/${dataset}/pin`)).status).toBe(200);
    expect(calls.at(-1)).toEqual(current);
    expect((await post(cache, `/admin/v1/datasets/${dataset}/unpin`)).status).toBe(200);
    expect(calls.at(-1)).toEqual(current);
    // Nothing changed, nothing purged: an unpin of an unpinned dataset spends no purge.
    expect((await post(cache, `/admin/v1/datasets/${dataset}/unpin`)).status).toBe(200);
    expect(calls).toHaveLength(3);

    const prune = await post(cache, "/admin/v1/prune", { keep: 1 });
    expect(prune.status).toBe(200);
    // keep 1: the newest (v3) and the current one (v2) stay, v1 goes, and so do its cached copies.
    const pruneCall = calls.find((tags) => tags.includes(`ds:${dataset}@${v1.info.version}`));
    expect(pruneCall).toEqual([...current, `ds:${dataset}@${v1.info.version}`]);
    expect(calls.flat()).not.toContain(`ds:${dataset}@${v3.info.version}`);
  });

  it("the status page's pin form purges through ctx.cache too", async () => {
    const dataset = uniqueDataset("page-purge");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const login = await SELF.fetch(`${BASE}/admin/login`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: BASE },
      body: "token=test-token-0123456789abcdef0123456789abcdef",
      redirect: "manual",
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    // The session's other half, which the page's script sends with every action.
    const { key } = (await login.json()) as { key: string };
    const { cache, calls } = stubCache();
    const res = await call(cache, `/admin/datasets/${dataset}/pin`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: BASE, Cookie: cookie, "X-Edgesnap-Key": key },
      body: "",
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect(calls).toEqual([[`ds:${dataset}:current`, "catalog"]]);
  });

  it("leaves the Cache API alone where Workers Cache exists: reads are not stored there", async () => {
    const dataset = uniqueDataset("no-cache-api");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { cache } = stubCache();
    const res = await call(cache, `/v1/datasets/${dataset}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Tag")).toContain(`ds:${dataset}:current`);
    await res.text();
    expect(await caches.default.match(cacheKey(`/v1/datasets/${dataset}`))).toBeUndefined();
    // Without ctx.cache (wrangler dev), the same read is stored in this location's Cache API.
    await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).text();
    expect(await caches.default.match(cacheKey(`/v1/datasets/${dataset}`))).toBeDefined();
  });

  it("never fails the change when the purge throws: the notice answers 200 and the tags wait for the cron", async () => {
    const dataset = uniqueDataset("purge-throws");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const broken = stubCache(() => {
      throw new Error("purge service unavailable");
    });
    expect((await post(broken.cache, "/internal/v1/publish-notice", { dataset, version: info.version })).status).toBe(200);
    expect(broken.calls).toHaveLength(1);
    expect((await storedState()).queued).toEqual([`ds:${dataset}:current`, "catalog"]);

    // The cron sends what is queued.
    const healthy = stubCache();
    const { ctx, settle } = contextWith(healthy.cache);
    await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env, ctx);
    await settle();
    expect(healthy.calls).toEqual([[`ds:${dataset}:current`, "catalog"]]);
    expect((await storedState()).queued).toEqual([]);
  });
});

describe("the Free plan's purge limits, shared by every isolate", () => {
  it("sends at most 25 requests in a burst, then 5 a minute, coalescing what waits into one request", async () => {
    const store = openR2Store(env);
    const { cache, calls } = stubCache();
    for (let i = 0; i < 30; i++) await purgeTags(store, cache, [`t${i}`], T0);
    expect(calls).toHaveLength(PURGE_LIMITS.bucket);
    expect((await storedState()).queued).toEqual(["t25", "t26", "t27", "t28", "t29"]);

    // Twelve seconds refill one request: the five waiting tags go out together.
    const report = await purgeTags(store, cache, [], at(12));
    expect(report.sent).toEqual(["t25", "t26", "t27", "t28", "t29"]);
    expect(calls).toHaveLength(26);
    expect(calls.at(-1)).toHaveLength(5);

    // Nothing left in the bucket: the same tag asked for again and again waits once.
    for (let i = 0; i < 10; i++) await purgeTags(store, cache, ["again"], at(12));
    expect(calls).toHaveLength(26);
    expect((await storedState()).queued).toEqual(["again"]);

    // At 12 s + 1 min there are 5 requests again, and 30 + 5 calls is all that 72 s allow.
    const total = 25 + Math.floor((72 * PURGE_LIMITS.refillPerMinute) / 60);
    await purgeTags(store, cache, [], at(72));
    expect(calls.length).toBeLessThanOrEqual(total);
    expect(calls.at(-1)).toEqual(["again"]);
  });

  it("never puts more than 100 tags in one request", async () => {
    const store = openR2Store(env);
    const { cache, calls } = stubCache();
    const tags = Array.from({ length: 250 }, (_, i) => `many-${i}`);
    await purgeTags(store, cache, tags, T0);
    expect(calls.map((c) => c.length)).toEqual([100, 100, 50]);
    expect(calls.flat()).toEqual(tags);
  });

  it("queues the tags of a failed call again, and sends them on the next try", async () => {
    const store = openR2Store(env);
    const failing = stubCache(() => ({ success: false, errors: [{ code: 1015, message: "rate limited" }] }));
    const report = await purgeTags(store, failing.cache, ["ds:a:current", "catalog"], T0);
    expect(report).toEqual({ sent: [], queued: 2, failures: ["1015: rate limited"] });
    const ok = stubCache();
    expect((await purgeTags(store, ok.cache, [], at(60))).sent).toEqual(["ds:a:current", "catalog"]);
    expect((await storedState()).queued).toEqual([]);
  });

  it("plans from the shared state alone (pure): refill is continuous and capped at the bucket", () => {
    const empty = { ...initialPurgeState(T0), tokens: 0 };
    expect(planPurge(empty, ["a"], at(11)).batches).toEqual([]);
    expect(planPurge(empty, ["a"], at(12)).batches).toEqual([["a"]]);
    const refilled = planPurge(empty, [], at(3600)).state;
    expect(refilled.tokens).toBe(PURGE_LIMITS.bucket);
  });
});
