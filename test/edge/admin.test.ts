/**
 * The admin API inside workerd: auth, rebuild requests (stored in R2, coalesced, claimed,
 * completed), run records, the dataset overview, rollback and forward, pin, prune.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  manifestObjectKey,
  parseHeadText,
  requestObjectKey,
  requestPointerKey,
  runObjectKey,
  type AdminDataset,
  type RebuildAccepted,
  type RebuildRequest,
  type RunRecord,
  type RunsPage,
} from "../../contract/index.ts";
import { CLAIM_LEASE_MS, claimRequest } from "../../contract/protocol/requests.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { BASE, pageKey, publishFakeVersion, runRecord, uniqueDataset } from "./publish-fixture.ts";

const AUTH = { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef" };

function admin(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...AUTH, ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["Content-Type"] = "application/json";
  }
  return SELF.fetch(`${BASE}/admin/v1${path}`, { method: init.method ?? (body === undefined ? "GET" : "POST"), headers, body });
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function rebuild(dataset: string, query = ""): Promise<Response> {
  return admin(`/datasets/${dataset}/rebuild${query}`, { method: "POST" });
}

describe("admin auth", () => {
  it("answers 401 with a JSON error and no-store without a token, with a wrong one, or with another scheme", async () => {
    const dataset = uniqueDataset("auth");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const cases: Record<string, string>[] = [{}, { Authorization: "Bearer wrong" }, { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef-x" }, { Authorization: "Basic dGVzdC10b2tlbg==" }];
    for (const headers of cases) {
      for (const [method, path] of [["GET", "/datasets"], ["POST", `/datasets/${dataset}/rebuild`], ["GET", "/requests/pending"], ["POST", "/prune"]] as const) {
        // An address of its own: these wrong tokens count against it (test/edge/rate-limit.test.ts).
        const res = await SELF.fetch(`${BASE}/admin/v1${path}`, { method, headers: { ...headers, "CF-Connecting-IP": "192.0.2.45" } });
        expect(res.status, `${method} ${path} with ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get("cache-control")).toBe("no-store");
        expect(res.headers.get("www-authenticate")).toContain("Bearer");
        expect(await json<{ error: { code: string } }>(res)).toEqual({ error: { code: "unauthorized", message: "missing or wrong bearer token" } });
      }
    }
    // Nothing was stored by the refused rebuilds.
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();
  });

  it("marks successful admin answers no-store while public reads stay public and cacheable", async () => {
    const dataset = uniqueDataset("nostore");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const res = await admin("/datasets");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const pub = await SELF.fetch(`${BASE}/v1/datasets/${dataset}`);
    expect(pub.status).toBe(200);
    expect(pub.headers.get("cache-control")).not.toBe("no-store");
  });
});

describe("rebuild requests", () => {
  it("stores a pending request in R2 and answers 202 with its id", async () => {
    const dataset = uniqueDataset("rebuild");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const res = await rebuild(dataset);
    expect(res.status).toBe(202);
    const accepted = await json<RebuildAccepted>(res);
    expect(accepted.coalesced).toBe(false);
    expect(accepted.request).toMatchObject({ dataset, state: "pending", force: false, run_id: null });
    // Written to R2 (strongly consistent), read straight back from R2 and through the API.
    const stored = await env.SNAPSHOTS.get(requestObjectKey(dataset, accepted.request_id));
    expect(JSON.parse(await stored!.text())).toEqual(accepted.request);
    expect(JSON.parse(await (await env.SNAPSHOTS.get(requestPointerKey(dataset)))!.text())).toEqual({ id: accepted.request_id });
    expect(await json<RebuildRequest>(await admin(`/requests/${accepted.request_id}`))).toEqual(accepted.request);
    const pending = await json<{ requests: RebuildRequest[] }>(await admin("/requests/pending"));
    expect(pending.requests.map((r) => r.id)).toContain(accepted.request_id);
  });

  it("coalesces a second request while one is pending, and upgrades it to force", async () => {
    const dataset = uniqueDataset("coalesce");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const first = await json<RebuildAccepted>(await rebuild(dataset));
    const second = await rebuild(dataset);
    expect(second.status).toBe(202);
    const again = await json<RebuildAccepted>(second);
    expect(again).toMatchObject({ request_id: first.request_id, coalesced: true });
    const forced = await json<RebuildAccepted>(await rebuild(dataset, "?force=1"));
    expect(forced.request_id).toBe(first.request_id);
    expect(forced.request.force).toBe(true);
    const pending = await json<{ requests: RebuildRequest[] }>(await admin("/requests/pending"));
    expect(pending.requests.filter((r) => r.dataset === dataset)).toHaveLength(1);
  });

  it("gives concurrent requests for one dataset a single pending request", async () => {
    const dataset = uniqueDataset("race");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const answers = await Promise.all(Array.from({ length: 6 }, () => rebuild(dataset).then((r) => json<RebuildAccepted>(r))));
    expect(new Set(answers.map((a) => a.request_id)).size).toBe(1);
    const listed = await env.SNAPSHOTS.list({ prefix: `requests/${dataset}/` });
    expect(listed.objects).toHaveLength(1);
  });

  it("follows a request through claim to the run record that completes it, and a new request after a claim is a new one", async () => {
    const dataset = uniqueDataset("lifecycle");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset, "?force=1"));
    const claimed = await admin(`/requests/${request_id}/claim`, { body: {} });
    expect(claimed.status).toBe(200);
    expect(await json<RebuildRequest>(claimed)).toMatchObject({ state: "claimed", force: true });
    // Claimed requests are no longer offered, and cannot be claimed twice.
    expect((await json<{ requests: RebuildRequest[] }>(await admin("/requests/pending"))).requests.map((r) => r.id)).not.toContain(request_id);
    const twice = await admin(`/requests/${request_id}/claim`, { body: {} });
    expect(twice.status).toBe(409);
    expect((await json<{ error: { code: string } }>(twice)).error.code).toBe("conflict");
    // While the first is claimed (its run may have started already), a new ask is a new request.
    const next = await json<RebuildAccepted>(await rebuild(dataset));
    expect(next.request_id).not.toBe(request_id);
    expect(next.coalesced).toBe(false);

    const record = runRecord(dataset, { trigger: "rebuild-request", request_id, request_ids: [request_id], version: info.version });
    expect((await admin("/runs", { body: record })).status).toBe(201);
    const read = await json<RebuildRequest>(await admin(`/requests/${request_id}`));
    expect(read).toMatchObject({ state: "done", outcome: "ok", version: info.version, run_id: record.id });
    expect(read.completed_at).not.toBeNull();
    // The run record is the only way to complete a request: there is no endpoint for it.
    expect((await admin(`/requests/${next.request_id}/complete`, { body: { outcome: "ok" } })).status).toBe(404);
    expect((await json<RebuildRequest>(await admin(`/requests/${next.request_id}`))).state).toBe("pending");
  });

  it("offers a request again when the scheduler that claimed it never finished within the lease", async () => {
    const dataset = uniqueDataset("abandoned");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset));
    // A scheduler claimed it longer ago than the lease and then died.
    await claimRequest(openR2Store(env), request_id, null, new Date(Date.now() - CLAIM_LEASE_MS - 60_000));
    const offered = (await json<{ requests: RebuildRequest[] }>(await admin("/requests/pending"))).requests.map((r) => r.id);
    expect(offered).toContain(request_id);
    const reclaimed = await admin(`/requests/${request_id}/claim`, { body: {} });
    expect(reclaimed.status).toBe(200);
    // The fresh claim holds: not offered, not claimable again.
    expect((await json<{ requests: RebuildRequest[] }>(await admin("/requests/pending"))).requests.map((r) => r.id)).not.toContain(request_id);
    expect((await admin(`/requests/${request_id}/claim`, { body: {} })).status).toBe(409);
  });

  it("answers 404 for an unknown dataset or request and 400 for a malformed name or body", async () => {
    const unknown = await rebuild("never-heard-of-it");
    expect(unknown.status).toBe(404);
    expect((await json<{ error: { code: string } }>(unknown)).error.code).toBe("not_found");
    expect((await rebuild("Bad_Name")).status).toBe(400);
    expect((await admin("/requests/nope.0000000000000-00000000")).status).toBe(404);
    expect((await admin("/requests/garbage")).status).toBe(404);
    const dataset = uniqueDataset("badbody");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset));
    expect((await admin(`/requests/${request_id}/claim`, { body: "{nope" })).status).toBe(400);
    expect((await admin("/runs", { body: runRecord(dataset, { request_ids: [request_id], outcome: "splendid" as "ok" }) })).status).toBe(400);
    expect((await admin(`/requests/${request_id}/claim`, { body: { run_id: 5 } })).status).toBe(400);
    // Neither malformed body touched the request.
    expect((await json<RebuildRequest>(await admin(`/requests/${request_id}`))).state).toBe("pending");
  });
});

describe("admin API: oversized bodies", () => {
  it("answers 413 to a 20 MB JSON body, declared or streamed without a length, and stores nothing", async () => {
    const dataset = uniqueDataset("bigbody");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const record = runRecord(dataset, { reason: "x".repeat(20 * 1024 * 1024) });
    const declared = await admin("/runs", { body: record });
    expect(declared.status).toBe(413);
    expect(await json(declared)).toEqual({ error: { code: "payload_too_large", message: "refused a request body over 65536 bytes" } });

    let pulled = 0;
    const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        if (pulled > 320) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const streamed = await SELF.fetch(`${BASE}/admin/v1/runs`, { method: "POST", headers: { ...AUTH, "Content-Type": "application/json" }, body: stream });
    expect(streamed.status).toBe(413);
    // Refused after the limit, not after reading all 20 MiB.
    expect(pulled).toBeLessThan(10);
    expect((await env.SNAPSHOTS.list({ prefix: `runs/${dataset}/` })).objects).toHaveLength(0);
    // A run record of normal size is still taken.
    expect((await admin("/runs", { body: runRecord(dataset, { reason: "x".repeat(500) }) })).status).toBe(201);
  });

  it("reads no body before the token check: a stranger's large body gets 401", async () => {
    const res = await SELF.fetch(`${BASE}/admin/v1/runs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "x".repeat(1024 * 1024) });
    expect(res.status).toBe(401);
  });
});

describe("run records", () => {
  it("stores reported runs under runObjectKey and lists them newest first, paged", async () => {
    const dataset = uniqueDataset("runs");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const base = Date.UTC(2026, 10, 23, 10, 0, 0);
    const records = Array.from({ length: 5 }, (_, i) => runRecord(dataset, { outcome: i === 2 ? "failed" : "ok", reason: i === 2 ? "boom" : null }, new Date(base + i * 60_000)));
    for (const record of records) {
      const res = await admin("/runs", { body: record });
      expect(res.status).toBe(201);
    }
    expect(JSON.parse(await (await env.SNAPSHOTS.get(runObjectKey(dataset, records[0]!.id)))!.text())).toEqual(records[0]);
    const newestFirst = [...records].reverse().map((r) => r.id);
    const page1 = await json<RunsPage>(await admin(`/datasets/${dataset}/runs?limit=2`));
    expect(page1.runs.map((r) => r.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.cursor).not.toBeNull();
    const page2 = await json<RunsPage>(await admin(`/datasets/${dataset}/runs?limit=2&cursor=${encodeURIComponent(page1.cursor!)}`));
    expect(page2.runs.map((r) => r.id)).toEqual(newestFirst.slice(2, 4));
    const page3 = await json<RunsPage>(await admin(`/datasets/${dataset}/runs?limit=2&cursor=${encodeURIComponent(page2.cursor!)}`));
    expect(page3.runs.map((r) => r.id)).toEqual(newestFirst.slice(4));
    expect(page3.cursor).toBeNull();
    const one = await json<RunRecord>(await admin(`/datasets/${dataset}/runs/${records[2]!.id}`));
    expect(one).toMatchObject({ outcome: "failed", reason: "boom" });
    expect((await admin(`/datasets/${dataset}/runs/0000-missing`)).status).toBe(404);
    expect((await admin(`/datasets/${dataset}/runs?limit=0`)).status).toBe(400);
    expect((await admin("/runs", { body: { ...records[0], outcome: "great" } })).status).toBe(400);
  });

  it("completes the linked rebuild request when the run that served it is reported", async () => {
    const dataset = uniqueDataset("linked");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset));
    const record = runRecord(dataset, { trigger: "rebuild-request", request_id, version: info.version });
    await admin("/runs", { body: record });
    expect(await json<RebuildRequest>(await admin(`/requests/${request_id}`))).toMatchObject({ state: "done", run_id: record.id, outcome: "ok", version: info.version });
  });

  it("completes every request a coalesced run served, and skips ids of other datasets", async () => {
    const dataset = uniqueDataset("coalesced");
    const other = uniqueDataset("coalesced-other");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    await publishFakeVersion(env, { dataset: other, records: [{ a: 1 }] });
    const first = (await json<RebuildAccepted>(await rebuild(dataset))).request_id;
    await admin(`/requests/${first}/claim`, { body: {} });
    const second = (await json<RebuildAccepted>(await rebuild(dataset))).request_id;
    const foreign = (await json<RebuildAccepted>(await rebuild(other))).request_id;
    expect(second).not.toBe(first);
    const record = runRecord(dataset, { trigger: "rebuild-request", request_id: first, request_ids: [first, second, foreign], version: info.version });
    expect((await admin("/runs", { body: record })).status).toBe(201);
    for (const id of [first, second]) {
      expect(await json<RebuildRequest>(await admin(`/requests/${id}`))).toMatchObject({ state: "done", run_id: record.id, outcome: "ok", version: info.version });
    }
    expect((await json<RebuildRequest>(await admin(`/requests/${foreign}`))).state).toBe("pending");
  });

  it("completes a request the scheduler could not start with the refusal's outcome and reason", async () => {
    const dataset = uniqueDataset("refused");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset));
    await admin(`/requests/${request_id}/claim`, { body: {} });
    const refusal = runRecord(dataset, { trigger: "rebuild-request", request_id, request_ids: [request_id], outcome: "cancelled", reason: "the scheduler is stopping", rows: null, bytes: null, duration_ms: 0 });
    expect((await admin("/runs", { body: refusal })).status).toBe(201);
    expect(await json<RebuildRequest>(await admin(`/requests/${request_id}`))).toMatchObject({ state: "done", outcome: "cancelled", reason: "the scheduler is stopping", run_id: refusal.id });
  });

  it("reads a record without request_ids as serving none but its request_id", async () => {
    const dataset = uniqueDataset("older");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset));
    const { request_ids: _, ...older } = runRecord(dataset, { trigger: "rebuild-request", request_id });
    expect((await admin("/runs", { body: older })).status).toBe(201);
    expect(await json<RunRecord>(await admin(`/datasets/${dataset}/runs/${older.id}`))).toMatchObject({ request_id, request_ids: [] });
    expect((await json<RebuildRequest>(await admin(`/requests/${request_id}`))).state).toBe("done");
  });

  it("knows a dataset that has runs but no published version yet", async () => {
    const dataset = uniqueDataset("unpublished");
    await admin("/runs", { body: runRecord(dataset, { outcome: "failed", reason: "build failed: x", rows: null, bytes: null }) });
    expect((await rebuild(dataset)).status).toBe(202);
    const row = await json<AdminDataset>(await admin(`/datasets/${dataset}`));
    expect(row).toMatchObject({ name: dataset, current: null, last_run: { outcome: "failed" } });
  });
});

describe("dataset overview", () => {
  it("lists current version, age, rows, bytes, pin state, last run and pending request", async () => {
    const dataset = uniqueDataset("overview");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }], generatedAt: new Date(Date.now() - 90_000) });
    const record = runRecord(dataset, { version: info.version, rows: 2 });
    await admin("/runs", { body: record });
    const { request_id } = await json<RebuildAccepted>(await rebuild(dataset));
    const all = await json<{ datasets: AdminDataset[] }>(await admin("/datasets"));
    const row = all.datasets.find((d) => d.name === dataset)!;
    expect(row).toMatchObject({ current: info.version, rows: 2, bytes: info.bytes, pinned: false, versions: [info.version] });
    expect(row.age_seconds).toBeGreaterThanOrEqual(89);
    expect(row.age_seconds).toBeLessThan(200);
    expect(row.last_run?.id).toBe(record.id);
    expect(row.pending_request?.id).toBe(request_id);
  });
});

describe("rollback, pin, prune", () => {
  it("rolls back to a retained version and forward again, refreshing KV so the public URL serves it", async () => {
    const dataset = uniqueDataset("rollback");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const v2 = await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).json()).toEqual([{ v: 2 }]);

    const back = await admin(`/datasets/${dataset}/rollback`, { body: { version: v1.info.version } });
    expect(back.status).toBe(200);
    expect(await back.json()).toEqual({ dataset, current: v1.info.version, previous: v2.info.version, pinned: true });
    const r2 = parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head;
    expect(r2).toMatchObject({ current: v1.info.version, pinned: true });
    expect(r2.versions.map((v) => v.version)).toEqual([v2.info.version, v1.info.version]);
    expect(await env.SNAPSHOT_KV.get(pageKey(v1))).toBe(v1.body);
    const served = await SELF.fetch(`${BASE}/v1/datasets/${dataset}`);
    expect(served.headers.get("x-edgesnap-version")).toBe(v1.info.version);
    expect(await served.json()).toEqual([{ v: 1 }]);

    const forward = await json<{ current: string }>(await admin(`/datasets/${dataset}/rollback`, { body: { version: v2.info.version, pin: false } }));
    expect(forward).toMatchObject({ current: v2.info.version, pinned: false });
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).json()).toEqual([{ v: 2 }]);
  });

  it("refuses a rollback to an unknown version (404), a malformed one (400) or of an unknown dataset (404)", async () => {
    const dataset = uniqueDataset("badroll");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    expect((await admin(`/datasets/${dataset}/rollback`, { body: { version: "20200101T000000000Z-00000000" } })).status).toBe(404);
    expect((await admin(`/datasets/${dataset}/rollback`, { body: { version: "latest" } })).status).toBe(400);
    expect((await admin(`/datasets/${dataset}/rollback`, { body: "nope" })).status).toBe(400);
    expect((await admin(`/datasets/no-such-dataset/rollback`, { body: { version: v1.info.version } })).status).toBe(404);
    expect(parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head.current).toBe(v1.info.version);
  });

  it("pins and unpins; a pinned dataset keeps its current version when a new one is published", async () => {
    const dataset = uniqueDataset("pin");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    expect(await json<{ pinned: boolean }>(await admin(`/datasets/${dataset}/pin`, { method: "POST" }))).toMatchObject({ pinned: true, current: v1.info.version });
    const v2 = await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    expect(v2.head.current).toBe(v1.info.version);
    const unpinned = await json<{ pinned: boolean }>(await admin(`/datasets/${dataset}/unpin`, { method: "POST" }));
    expect(unpinned.pinned).toBe(false);
    expect(parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head.pinned).toBe(false);
    expect((await admin(`/datasets/no-such-dataset/pin`, { method: "POST" })).status).toBe(404);
  });

  it("prunes versions beyond the retention count, never the current one; a dry run changes nothing", async () => {
    const dataset = uniqueDataset("prune");
    const versions = [];
    for (let i = 0; i < 5; i++) versions.push(await publishFakeVersion(env, { dataset, records: [{ v: i }] }));
    const [v0, v1, v2, v3, v4] = versions.map((v) => v.info.version) as [string, string, string, string, string];
    const [p0, p1, p2] = versions.map((v) => pageKey(v));
    // Roll back to the oldest so it must survive even though it is beyond `keep`.
    await admin(`/datasets/${dataset}/rollback`, { body: { version: v0 } });
    expect(await env.SNAPSHOT_KV.get(p0!)).not.toBeNull();

    const dry = await json<{ dry_run: boolean; datasets: { dataset: string; versions: string[]; objects: number }[] }>(
      await admin("/prune", { body: { keep: 2, dry_run: true } }),
    );
    const planned = dry.datasets.find((d) => d.dataset === dataset)!;
    expect(dry.dry_run).toBe(true);
    expect(planned.versions.sort()).toEqual([v1, v2].sort());
    // Each dropped version's page and index (the pages differ, so none is shared with a kept version).
    expect(planned.objects).toBe(4);
    expect(await env.SNAPSHOTS.head(p1!)).not.toBeNull();

    const real = await json<{ datasets: { dataset: string; versions: string[] }[] }>(await admin("/prune", { body: { keep: 2 } }));
    expect(real.datasets.find((d) => d.dataset === dataset)!.versions.sort()).toEqual([v1, v2].sort());
    const manifest = parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head;
    expect(manifest.versions.map((v) => v.version)).toEqual([v4, v3, v0]);
    expect(manifest.current).toBe(v0);
    expect(await env.SNAPSHOTS.head(p1!)).toBeNull();
    expect(await env.SNAPSHOTS.head(p2!)).toBeNull();
    expect(await env.SNAPSHOTS.head(p0!)).not.toBeNull();
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}/versions/${v1}`)).status).toBe(404);
    expect((await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).headers.get("x-edgesnap-version")).toBe(v0);
    expect((await admin("/prune", { body: { keep: 0 } })).status).toBe(400);
  });
});
