/**
 * The status page inside workerd: sign-in sets an HttpOnly session cookie (never the token
 * itself), the page shows nothing without it, renders datasets and runs with it, its forms act on
 * the same R2 state as the admin API, and nothing of it is cacheable.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { makeRunId, manifestObjectKey, parseManifest, requestPointerKey, type RunRecord } from "../../contract/index.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

async function signIn(token = "test-token"): Promise<Response> {
  return SELF.fetch(`${BASE}/admin/login`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: BASE },
    body: new URLSearchParams({ token }).toString(),
    redirect: "manual",
  });
}

async function sessionCookie(): Promise<string> {
  const res = await signIn();
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

function post(path: string, cookie: string | null, form: Record<string, string> = {}, origin = BASE): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded", Origin: origin };
  if (cookie) headers.Cookie = cookie;
  return SELF.fetch(`${BASE}${path}`, { method: "POST", headers, body: new URLSearchParams(form).toString(), redirect: "manual" });
}

describe("status page", () => {
  it("shows only a sign-in form without a session, and refuses a wrong token with 401", async () => {
    const dataset = uniqueDataset("page-anon");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const page = await SELF.fetch(`${BASE}/admin`);
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = await page.text();
    expect(html).toContain('name="token"');
    expect(html).not.toContain(dataset);
    const wrong = await signIn("nope");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("signs in with the token into an HttpOnly, SameSite=Strict cookie that does not contain the token", async () => {
    const res = await signIn();
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^edgesnap_session=[0-9a-f]{64};/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/admin");
    expect(cookie).not.toContain("test-token");
    // A forged cookie is no session.
    const forged = await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: "edgesnap_session=test-token" } });
    expect(await forged.text()).toContain('name="token"');
  });

  it("renders each dataset with its version, runs and a duration/memory chart", async () => {
    const dataset = uniqueDataset("page");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    const started = new Date();
    const record: RunRecord = {
      id: makeRunId(started, "aaaabbbb"),
      dataset,
      trigger: "schedule",
      request_id: null,
      started_at: started.toISOString(),
      finished_at: started.toISOString(),
      outcome: "ok",
      reason: null,
      duration_ms: 1234,
      peak_rss_bytes: 250 * 1024 * 1024,
      rows: 2,
      bytes: info.bytes,
      version: info.version,
      attempt: 1,
    };
    await SELF.fetch(`${BASE}/admin/v1/runs`, { method: "POST", headers: { Authorization: "Bearer test-token", "Content-Type": "application/json" }, body: JSON.stringify(record) });
    const page = await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: await sessionCookie() } });
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain(`data-dataset="${dataset}"`);
    expect(html).toContain(info.version);
    expect(html).toContain(`data-run="${record.id}"`);
    expect(html).toContain("1.2s");
    expect(html).toContain("250.0 MiB");
    expect(html).toMatch(/<svg class="chart"/);
    expect(html).toContain('name="viewport"');
  });

  it("its Rebuild, Pin and Roll back forms change the same R2 state as the admin API", async () => {
    const dataset = uniqueDataset("page-act");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    const cookie = await sessionCookie();

    const rebuilt = await post(`/admin/datasets/${dataset}/rebuild`, cookie);
    expect(rebuilt.status).toBe(303);
    expect(rebuilt.headers.get("location")).toContain("rebuild%20requested");
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).not.toBeNull();
    // While a request is pending the page reloads itself.
    expect(await (await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: cookie } })).text()).toContain('http-equiv="refresh"');

    expect((await post(`/admin/datasets/${dataset}/rollback`, cookie, { version: v1.info.version })).status).toBe(303);
    const manifest = parseManifest(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text());
    expect(manifest).toMatchObject({ current: v1.info.version, pinned: true });
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).json()).toEqual([{ v: 1 }]);

    expect((await post(`/admin/datasets/${dataset}/unpin`, cookie)).status).toBe(303);
    expect(parseManifest(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).pinned).toBe(false);
  });

  it("refuses actions without a session or from another origin, and changes nothing", async () => {
    const dataset = uniqueDataset("page-csrf");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const anonymous = await post(`/admin/datasets/${dataset}/rebuild`, null);
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toBe("/admin");
    const foreign = await post(`/admin/datasets/${dataset}/pin`, await sessionCookie(), {}, "https://evil.example");
    expect(foreign.status).toBe(403);
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();
    expect(parseManifest(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).pinned).toBe(false);
  });
});
