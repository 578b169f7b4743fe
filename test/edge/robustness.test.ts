/**
 * Bad objects and bad input, inside workerd: an unreadable manifest or run record degrades one
 * dataset or one row, never the answer; the admin API refuses malformed input with 400/415 and
 * echoes at most 100 characters of it; request history and orphan version folders are trimmed.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  CATALOG_OBJECT_KEY,
  manifestObjectKey,
  pageObjectKey,
  REQUEST_HISTORY_PER_DATASET,
  REQUESTS_PREFIX,
  parseHeadText,
  runObjectKey,
  versionPrefix,
  type RunRecord,
} from "../../contract/index.ts";
import { collectGarbage, ORPHAN_MIN_AGE_MS } from "../../contract/protocol/collect.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { BASE, publishFakeVersion, runRecord, uniqueDataset } from "./publish-fixture.ts";

const AUTH = { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef" };

function admin(path: string, init: { method?: string; body?: string; type?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...AUTH };
  if (init.body !== undefined) headers["Content-Type"] = init.type ?? "application/json";
  return SELF.fetch(`${BASE}/admin/v1${path}`, { method: init.method ?? (init.body === undefined ? "GET" : "POST"), headers, body: init.body });
}

async function error(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe("an unreadable manifest", () => {
  it("makes that dataset's public routes answer 503 JSON and leaves every other dataset alone", async () => {
    const broken = uniqueDataset("junk");
    const healthy = uniqueDataset("fine");
    const { info } = await publishFakeVersion(env, { dataset: broken, records: [{ a: 1 }] });
    const ok = await publishFakeVersion(env, { dataset: healthy, records: [{ b: 2 }] });
    await env.SNAPSHOTS.put(manifestObjectKey(broken), "{ not a manifest");
    for (const path of [`/v1/datasets/${broken}`, `/v1/datasets/${broken}/versions/${info.version}`, `/v1/datasets/${broken}/versions/20000101T000000000Z-00000000`, `/v1/datasets/${broken}/pages/1`]) {
      const res = await SELF.fetch(`${BASE}${path}`);
      expect(res.status, path).toBe(503);
      expect((await error(res)).code).toBe("unavailable");
    }
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${healthy}`)).text()).toBe(ok.body);
  });

  it("keeps the dataset in the catalog as it was last readable, also when another dataset's notice rebuilds it", async () => {
    const broken = uniqueDataset("junk-cat");
    const other = uniqueDataset("other-cat");
    const { info } = await publishFakeVersion(env, { dataset: broken, records: [{ a: 1 }] });
    const notice = (dataset: string, version: string) =>
      SELF.fetch(`${BASE}/internal/v1/publish-notice`, { method: "POST", headers: { ...AUTH, "Content-Type": "application/json" }, body: JSON.stringify({ dataset, version }) });
    expect((await notice(broken, info.version)).status).toBe(200);
    await env.SNAPSHOTS.put(manifestObjectKey(broken), "junk");
    const second = await publishFakeVersion(env, { dataset: other, records: [{ b: 1 }] });
    expect((await notice(other, second.info.version)).status).toBe(200);
    const catalog = JSON.parse(await (await env.SNAPSHOTS.get(CATALOG_OBJECT_KEY))!.text()) as { datasets: { name: string; version: string }[] };
    expect(catalog.datasets.find((d) => d.name === broken)?.version).toBe(info.version);
    expect(catalog.datasets.find((d) => d.name === other)?.version).toBe(second.info.version);
  });

  it("makes the notice, rollback and pin of that dataset answer 503, and prune skip it with a warning", async () => {
    const broken = uniqueDataset("junk-ops");
    const healthy = uniqueDataset("fine-ops");
    const { info } = await publishFakeVersion(env, { dataset: broken, records: [{ a: 1 }] });
    await publishFakeVersion(env, { dataset: healthy, records: [{ a: 1 }] });
    await publishFakeVersion(env, { dataset: healthy, records: [{ a: 2 }] });
    await env.SNAPSHOTS.put(manifestObjectKey(broken), "[]");
    const notice = await SELF.fetch(`${BASE}/internal/v1/publish-notice`, { method: "POST", headers: { ...AUTH, "Content-Type": "application/json" }, body: JSON.stringify({ dataset: broken, version: info.version }) });
    expect(notice.status).toBe(503);
    expect((await admin(`/datasets/${broken}/rollback`, { body: JSON.stringify({ version: info.version }) })).status).toBe(503);
    expect((await admin(`/datasets/${broken}/pin`, { method: "POST" })).status).toBe(503);
    const prune = await admin("/prune", { body: JSON.stringify({ keep: 1 }) });
    expect(prune.status).toBe(200);
    const result = (await prune.json()) as { datasets: { dataset: string }[]; warnings?: string[] };
    expect(result.datasets.map((d) => d.dataset)).toContain(healthy);
    expect(result.warnings?.some((w) => w.includes(broken))).toBe(true);
  });

  it("still lists the dataset in the admin overview, with a warning instead of a 500", async () => {
    const broken = uniqueDataset("junk-admin");
    await publishFakeVersion(env, { dataset: broken, records: [{ a: 1 }] });
    await env.SNAPSHOTS.put(manifestObjectKey(broken), "nope");
    const res = await admin("/datasets");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { datasets: { name: string; current: string | null }[]; warnings?: string[] };
    expect(body.datasets.find((d) => d.name === broken)?.current).toBeNull();
    expect(body.warnings?.some((w) => w.includes(broken) && w.includes("unreadable"))).toBe(true);
  });
});

describe("an unreadable run record", () => {
  it("is skipped with a warning by the runs listing and the overview; the others are listed", async () => {
    const dataset = uniqueDataset("bad-run");
    const good = runRecord(dataset);
    expect((await admin("/runs", { body: JSON.stringify(good) })).status).toBe(201);
    await env.SNAPSHOTS.put(runObjectKey(dataset, "0000000000001-deadbeef"), "{ broken");
    const page = await admin(`/datasets/${dataset}/runs`);
    expect(page.status).toBe(200);
    const body = (await page.json()) as { runs: RunRecord[]; warnings?: string[] };
    expect(body.runs.map((r) => r.id)).toEqual([good.id]);
    expect(body.warnings).toHaveLength(1);
    const overview = await admin("/datasets");
    expect(overview.status).toBe(200);
    const page2 = await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: "x=1" } });
    expect(page2.status).toBe(200);
  });
});

describe("admin API input", () => {
  it("refuses a prune without keep with 400, so an empty body never deletes anything", async () => {
    const dataset = uniqueDataset("keep-required");
    for (let i = 0; i < 3; i++) await publishFakeVersion(env, { dataset, records: [{ i }] });
    for (const body of ["", "{}", JSON.stringify({ dry_run: false })]) {
      const res = await admin("/prune", { body });
      expect(res.status, body).toBe(400);
    }
    expect(((await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.json()) as { versions: unknown[] }).versions).toHaveLength(3);
  });

  it("answers 415 to a JSON endpoint called with another Content-Type", async () => {
    const res = await admin("/prune", { body: "keep=1", type: "application/x-www-form-urlencoded" });
    expect(res.status).toBe(415);
    expect((await error(res)).code).toBe("unsupported_media_type");
    expect((await admin("/prune", { body: JSON.stringify({ keep: 5 }), type: "text/plain" })).status).toBe(415);
  });

  it("answers 400 to an over-long run id instead of passing it to R2", async () => {
    const dataset = uniqueDataset("long-id");
    await admin("/runs", { body: JSON.stringify(runRecord(dataset)) });
    const res = await admin(`/datasets/${dataset}/runs/${"9".repeat(2_000)}`);
    expect(res.status).toBe(400);
    expect((await error(res)).message.length).toBeLessThan(200);
  });

  it("echoes at most 100 characters of the input back in an error message", async () => {
    const long = "Z".repeat(5_000);
    for (const path of [`/v1/datasets/${long}`, `/v1/datasets/ok/versions/${long}`, `/nowhere/${long}`]) {
      const res = await SELF.fetch(`${BASE}${path}`);
      const { message } = await error(res);
      expect(message.length, path).toBeLessThan(220);
      expect(message).toContain("Z".repeat(80));
      expect(message).not.toContain("Z".repeat(101));
    }
  });
});

describe("housekeeping", () => {
  it("keeps only the newest rebuild requests of a dataset", async () => {
    const dataset = uniqueDataset("history");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    // Fill the history past its limit with done requests, then ask for one more.
    for (let i = 0; i < REQUEST_HISTORY_PER_DATASET + 5; i++) {
      const id = `${dataset}.${String(9_000_000_000_000 + i).padStart(13, "0")}-0000000${i % 10}`;
      await env.SNAPSHOTS.put(`${REQUESTS_PREFIX}${dataset}/${id}.json`, JSON.stringify({ id }));
    }
    expect((await admin(`/datasets/${dataset}/rebuild`, { method: "POST" })).status).toBe(202);
    const listed = await env.SNAPSHOTS.list({ prefix: `${REQUESTS_PREFIX}${dataset}/`, limit: 1000 });
    expect(listed.objects).toHaveLength(REQUEST_HISTORY_PER_DATASET);
  });

  it("collects objects no retained version references once they are older than the orphan age, and leaves young ones", async () => {
    const dataset = uniqueDataset("orphans");
    const published = await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    // What a publish killed before its head write leaves: a page, an index and a format file.
    const orphans = [pageObjectKey(dataset, "0".repeat(64)), `${versionPrefix(dataset, "20200101T000000000Z-0badf00d")}index.json`, `${versionPrefix(dataset, "20200101T000000000Z-0badf00d")}data.csv`];
    for (const key of orphans) await env.SNAPSHOTS.put(key, "[]");
    const res = await admin("/prune", { body: JSON.stringify({ keep: 20 }) });
    expect(res.status).toBe(200);
    for (const key of orphans) expect(await env.SNAPSHOTS.head(key), key).not.toBeNull();
    const later = () => new Date(Date.now() + ORPHAN_MIN_AGE_MS + 1000);
    const collected = await collectGarbage(openR2Store(env), dataset, { now: later });
    expect(collected?.deleted).toEqual([...orphans].sort());
    for (const key of orphans) expect(await env.SNAPSHOTS.head(key), key).toBeNull();
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).text()).toBe(published.body);
    const head = parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head;
    // The prune that found only young orphans deleted nothing and left the epoch; this one moved it.
    expect(head.gc.epoch).toBe(1);
    expect(head.gc.locked_until).toBeNull();
  });
});
