/**
 * The status page inside workerd. A navigation gets the empty shell, signed in or not; sign-in sets
 * an HttpOnly cookie (never the token; `__Host-` over HTTPS) and answers the session's origin key in
 * its body, and a view or an action needs both halves: a cookie alone (what a page on another port
 * of the host receives) opens nothing. Views render datasets, runs and the heartbeat chart, and a
 * page per dataset with its versions, schema, runs and alerts; actions change the same R2 state as
 * the admin API; the banner shows only the page's own messages; every post must come from the
 * page's own origin; sign-out ends the session in R2, and "sign out everywhere" ends them all; every
 * answer forbids framing and caching and carries a CSP without inline script or style.
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { Hono } from "hono";
import { beforeEach, describe, expect, it } from "vitest";
import { makeRunId, manifestObjectKey, parseHeadText, requestPointerKey, type RunRecord } from "../../contract/index.ts";
import { createApp } from "../../edge/app.ts";
import { noStore } from "../../edge/http/auth.ts";
import { compacted, isRevoked, REVOCATIONS_KEY } from "../../edge/status-page/revocations.ts";
import { createSession, originKeyFor } from "../../edge/status-page/session.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { onRunReported } from "../../edge/watchdog/index.ts";
import { storeRunRecord } from "../../contract/protocol/runs.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const TOKEN = "test-token-0123456789abcdef0123456789abcdef";
const FORM = "application/x-www-form-urlencoded";
const KEY_HEADER = "X-Edgesnap-Key";

interface Session {
  cookie: string;
  key: string;
}

async function signIn(token = TOKEN, origin: string | null = BASE): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": FORM };
  if (origin !== null) headers.Origin = origin;
  return SELF.fetch(`${BASE}/admin/login`, { method: "POST", headers, body: new URLSearchParams({ token }).toString(), redirect: "manual" });
}

/** Signs in as the page's script does: the cookie from Set-Cookie, the key from the body. */
async function signedIn(): Promise<Session> {
  const res = await signIn();
  expect(res.status).toBe(200);
  const { key } = (await res.json()) as { key: string };
  return { cookie: res.headers.get("set-cookie")!.split(";")[0]!, key };
}

/** A cookie and key made directly, issued at `issuedAt`. */
async function sessionIssuedAt(issuedAt: Date, token = TOKEN): Promise<Session> {
  const session = await createSession(token, issuedAt);
  return { cookie: `__Host-edgesnap_session=${session.cookie}`, key: await originKeyFor(token, session.id) };
}

/** A view as the page's script asks for it (the key in its header), unless `session` leaves it out. */
function view(path: string, session: Partial<Session> | null): Promise<Response> {
  const headers: Record<string, string> = {};
  if (session?.cookie) headers.Cookie = session.cookie;
  if (session?.key) headers[KEY_HEADER] = session.key;
  return SELF.fetch(`${BASE}${path}`, { headers, redirect: "manual" });
}

/** A form post as the page's script makes it, unless `headers` say otherwise (null drops one). */
function post(path: string, session: Partial<Session> | null, form: Record<string, string> = {}, headers: Record<string, string | null> = {}): Promise<Response> {
  const merged: Record<string, string | null> = { "Content-Type": FORM, Origin: BASE, Cookie: session?.cookie ?? null, [KEY_HEADER]: session?.key ?? null, ...headers };
  const sent = Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== null));
  return SELF.fetch(`${BASE}${path}`, { method: "POST", headers: sent, body: new URLSearchParams(form).toString(), redirect: "manual" });
}

async function pinnedIn(dataset: string): Promise<boolean> {
  return parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head.pinned;
}

/** Whether an answer is the shell (what a navigation gets) and shows nothing of the datasets. */
function isShell(html: string): boolean {
  return html.includes('id="sign-in"') && html.includes('<div id="view"><p class="muted">Loading…</p></div>') && !html.includes("data-dataset");
}

function runRecord(dataset: string, started: Date, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id: makeRunId(started, crypto.randomUUID().slice(0, 8)),
    dataset,
    trigger: "schedule",
    request_id: null,
    request_ids: [],
    started_at: started.toISOString(),
    finished_at: started.toISOString(),
    outcome: "ok",
    reason: null,
    duration_ms: 1234,
    peak_rss_bytes: 250 * 1024 * 1024,
    rows: 2,
    bytes: 10,
    version: null,
    attempt: 1,
    ...overrides,
  };
}

async function reportRun(record: RunRecord): Promise<void> {
  const res = await SELF.fetch(`${BASE}/admin/v1/runs`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" }, body: JSON.stringify(record) });
  expect(res.status).toBe(201);
}

/** Runs the Worker's app at `base` with `overrides` on top of the test's bindings. */
function fetchWith(overrides: Partial<Record<keyof Env, unknown>>, path: string, init: RequestInit = {}, base = BASE): Promise<Response> {
  return Promise.resolve(createApp().fetch(new Request(`${base}${path}`, { redirect: "manual", ...init }), { ...env, ...overrides } as Env, createExecutionContext()));
}

describe("status page: the shell and sign-in", () => {
  it("answers a navigation with the shell only, signed in or not: the sign-in form and the page's script, no dataset and no key", async () => {
    const dataset = uniqueDataset("page-anon");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const session = await signedIn();
    for (const who of [null, { cookie: session.cookie }]) {
      const page = await view("/admin", who);
      expect(page.status).toBe(200);
      expect(page.headers.get("cache-control")).toBe("no-store");
      const html = await page.text();
      expect(isShell(html)).toBe(true);
      expect(html).toContain('<script src="/admin/assets/page.js" defer="">');
      expect(html).not.toContain(dataset);
      expect(html).not.toContain(session.key);
    }
    const script = await SELF.fetch(`${BASE}/admin/assets/page.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await script.text()).toContain("X-Edgesnap-Key");
  });

  it("refuses a wrong token with 401 and sets no cookie", async () => {
    const wrong = await signIn("not-the-token-0123456789abcdef0123456789");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect(await wrong.json()).toEqual({ error: { code: "unauthorized", message: "that token is not right" } });
  });

  it("over HTTPS sets an HttpOnly, Secure, SameSite=Strict __Host- cookie for 12 hours, and answers the origin key in the body only", async () => {
    const res = await signIn();
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-edgesnap_session=\d{13}\.[0-9a-f]{32}\.[0-9a-f]{64}; Max-Age=43200; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    expect(cookie).not.toContain("Domain");
    const { key, expires_in } = (await res.json()) as { key: string; expires_in: number };
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(expires_in).toBe(43_200);
    expect(cookie).not.toContain(key);
    expect(cookie).not.toContain(TOKEN);
    // The key is the session's own: another sign-in gets another one.
    expect((await signedIn()).key).not.toBe(key);
  });

  it("over plain HTTP (a local npm start) sets edgesnap_session on Path=/admin, HttpOnly, SameSite=Strict", async () => {
    const local = "http://127.0.0.1:8787";
    const res = await fetchWith({}, "/admin/login", { method: "POST", headers: { "Content-Type": FORM, Origin: local }, body: `token=${TOKEN}` }, local);
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/^edgesnap_session=\d{13}\.[0-9a-f]{32}\.[0-9a-f]{64}; Max-Age=43200; Path=\/admin; HttpOnly; SameSite=Strict$/);
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    const { key } = (await res.json()) as { key: string };
    const page = await fetchWith({}, "/admin", { headers: { Cookie: cookie, [KEY_HEADER]: key } }, local);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-table="datasets"');
  });
});

describe("status page: a cookie alone is no session", () => {
  it("answers a view asked for with the cookie but without its key, with a wrong key or another session's key, with 401 and nothing of the datasets", async () => {
    const dataset = uniqueDataset("page-replay");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const mine = await signedIn();
    const theirs = await signedIn();
    for (const presented of [{ cookie: mine.cookie, key: "" }, { cookie: mine.cookie, key: "0".repeat(64) }, { cookie: mine.cookie, key: theirs.key }]) {
      for (const path of ["/admin", `/admin/datasets/${dataset}`]) {
        const res = await view(path, presented.key === "" ? { cookie: presented.cookie } : presented);
        const body = await res.text();
        if (presented.key === "") {
          // A navigation: the shell, which holds nothing.
          expect(isShell(body), path).toBe(true);
        } else {
          expect(res.status, path).toBe(401);
          expect(JSON.parse(body)).toEqual({ error: { code: "unauthorized", message: "sign in again: the session key does not match the session" } });
        }
        expect(body).not.toContain(dataset);
      }
    }
    // With both halves the same session sees everything.
    expect(await (await view("/admin", mine)).text()).toContain(`data-dataset="${dataset}"`);
  });

  it("refuses every action posted with the cookie alone (a replayed cookie, a forged form), and changes nothing", async () => {
    const dataset = uniqueDataset("page-replay-act");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    const session = await signedIn();
    for (const [path, form] of [
      [`/admin/datasets/${dataset}/pin`, {}],
      [`/admin/datasets/${dataset}/rebuild`, {}],
      [`/admin/datasets/${dataset}/rollback`, { version: v1.info.version }],
      ["/admin/logout-everywhere", {}],
    ] as const) {
      const res = await post(path, { cookie: session.cookie }, form);
      expect(res.status, path).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "sign in again: the request carries no session key (the status page's script sends it)" } });
    }
    expect(await pinnedIn(dataset)).toBe(false);
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();
    // The refused posts ended nothing: the real session goes on.
    expect((await view("/admin", session)).status).toBe(200);
  });

  it("refuses a view or an action without any session with 401", async () => {
    const dataset = uniqueDataset("page-anon-act");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    expect((await view("/admin", { key: "0".repeat(64) })).status).toBe(401);
    const anonymous = await post(`/admin/datasets/${dataset}/rebuild`, null);
    expect(anonymous.status).toBe(401);
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();
  });
});

describe("status page: views", () => {
  it("renders each dataset with its version, runs and a heartbeat chart of duration and memory", async () => {
    const dataset = uniqueDataset("page");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    const record = runRecord(dataset, new Date(), { bytes: info.bytes, version: info.version });
    await reportRun(record);
    const page = await view("/admin", await signedIn());
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain(`data-dataset="${dataset}"`);
    expect(html).toContain(info.version);
    expect(html).toContain(`<tr data-run="${record.id}"`);
    expect(html).toContain("1.2s");
    expect(html).toContain("250.0 MiB");
    const section = html.slice(html.indexOf(`<section class="dataset" id="ds-${dataset}"`));
    expect(section).toMatch(/<figure class="chart" data-runs="1">/);
    expect(section).toContain(`<rect class="bar bar-ok" data-run="${record.id}"`);
    expect(section).toContain(`href="/admin/datasets/${dataset}"`);
    expect(html).toContain('name="viewport"');
  });

  it("renders a dataset's page: retained versions with Roll back, the schema, recent runs with their reasons, recent alerts", async () => {
    const dataset = uniqueDataset("page-detail");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ code: "a", n: 1 }] });
    const columns = [
      { name: "code", type: "String", nullable: false },
      { name: "n", type: "Int64", nullable: true },
    ];
    const v2 = await publishFakeVersion(env, { dataset, records: [{ code: "a", n: 1 }, { code: "b", n: null }], columns, key: "code" });
    const failed = runRecord(dataset, new Date(Date.now() - 60_000), { outcome: "failed", reason: "source <unreachable> & gone", duration_ms: 300 });
    await reportRun(failed);
    await onRunReported(openR2Store(env), {}, failed, `${BASE}/admin/v1/runs`);
    const ok = runRecord(dataset, new Date(), { version: v2.info.version });
    await reportRun(ok);

    const res = await view(`/admin/datasets/${dataset}`, await signedIn());
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`<title>${dataset} · edgesnap</title>`);
    // Versions, newest first; the current one has no Roll back, the older one does.
    expect(html).toMatch(new RegExp(`<tr data-version="${v2.info.version}" data-current="true">.*<tr data-version="${v1.info.version}" data-current="false">`, "s"));
    expect(html).toContain(`data-action="rollback" data-version="${v1.info.version}"`);
    expect(html).not.toContain(`data-action="rollback" data-version="${v2.info.version}"`);
    // The schema: each column and its type.
    expect(html).toContain("<h3>Schema (keyed by code)</h3>");
    expect(html).toMatch(/<tr data-column="code"><td><code>code<\/code>\s*<span class="badge plain">key<\/span><\/td><td>String<\/td><td>no<\/td>/);
    expect(html).toMatch(/<tr data-column="n"><td><code>n<\/code><\/td><td>Int64<\/td><td>yes<\/td>/);
    // Runs with their reasons (escaped), and both runs in the chart.
    expect(html).toContain(`<tr data-run="${failed.id}" data-outcome="failed">`);
    expect(html).toContain("source &lt;unreachable&gt; &amp; gone");
    expect(html).toMatch(/<figure class="chart" data-runs="2">/);
    expect(html).toContain(`<rect class="bar bar-failed" data-run="${failed.id}"`);
    // The watchdog's alert about the failure.
    expect(html).toMatch(/data-field="alert" data-kind="run-failed">.*source &lt;unreachable&gt;/);
    expect(html).toContain('data-action="rebuild"');
    expect(html).toContain('data-action="pin"');
  });

  it("charts the last 50 runs of each dataset on the overview and the last 200 on the dataset's page, however the listing pages them", async () => {
    const dataset = uniqueDataset("page-many");
    const store = openR2Store(env);
    const now = Date.now();
    await Promise.all(Array.from({ length: 230 }, (_, i) => storeRunRecord(store, runRecord(dataset, new Date(now - i * 60_000), { duration_ms: 100 + i }))));
    const session = await signedIn();
    const bars = (html: string) => html.match(/<rect class="bar /g)?.length ?? 0;
    const overview = await (await view("/admin", session)).text();
    const card = overview.slice(overview.indexOf(`<section class="dataset" id="ds-${dataset}"`));
    expect(bars(card.slice(0, card.indexOf("</section>")))).toBe(50);
    const page = await (await view(`/admin/datasets/${dataset}`, session)).text();
    expect(bars(page)).toBe(200);
    expect(page).toMatch(/<figure class="chart" data-runs="200">/);
    // The table shows the newest 20, newest first.
    expect(page.match(/<tr data-run=/g)?.length).toBe(20);
  });

  it("lists the dataset's last 10 alerts on its page, newest first", async () => {
    const dataset = uniqueDataset("page-alerts");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    const store = openR2Store(env);
    const start = Date.now() - 3600_000;
    // Twelve changes of state, each one alert: failed, recovered, failed, ...
    for (let i = 0; i < 12; i++) {
      const record = runRecord(dataset, new Date(start + i * 60_000), i % 2 === 0 ? { outcome: "failed", reason: `failure ${i}` } : {});
      await onRunReported(store, {}, record, `${BASE}/admin/v1/runs`, { now: new Date(start + i * 60_000) });
    }
    const html = await (await view(`/admin/datasets/${dataset}`, await signedIn())).text();
    const kinds = [...html.matchAll(/data-field="alert" data-kind="([a-z-]+)"/g)].map((m) => m[1]);
    expect(kinds).toEqual(["recovered", "run-failed", "recovered", "run-failed", "recovered", "run-failed", "recovered", "run-failed", "recovered", "run-failed"]);
    expect(html).toContain("failure 10");
    expect(html).toContain("failure 2");
    expect(html).not.toMatch(/failure 0(?!\d)/);
    expect(html.indexOf("failure 10")).toBeLessThan(html.indexOf("failure 8"));
  });

  it("answers 404 for a dataset the edge does not know", async () => {
    const res = await view("/admin/datasets/never-heard-of-it", await signedIn());
    expect(res.status).toBe(404);
  });

  it("its Rebuild, Pin, Unpin and Roll back forms change the same R2 state as the admin API, and go back to the page they came from", async () => {
    const dataset = uniqueDataset("page-act");
    const v1 = await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    await publishFakeVersion(env, { dataset, records: [{ v: 2 }] });
    const session = await signedIn();

    const rebuilt = await post(`/admin/datasets/${dataset}/rebuild`, session, { back: "overview" });
    expect(rebuilt.status).toBe(303);
    expect(rebuilt.headers.get("location")).toBe(`/admin?msg=rebuild-requested&dataset=${dataset}`);
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).not.toBeNull();
    // While a request is pending the view reloads itself, but no more often than every 5 s.
    const busy = await (await view("/admin", session)).text();
    const refresh = /<div id="view" data-refresh-seconds="(\d+)">/.exec(busy);
    expect(refresh).not.toBeNull();
    expect(Number(refresh![1])).toBeGreaterThanOrEqual(5);

    const rolled = await post(`/admin/datasets/${dataset}/rollback`, session, { version: v1.info.version, back: "dataset" });
    expect(rolled.status).toBe(303);
    expect(rolled.headers.get("location")).toMatch(new RegExp(`^/admin/datasets/${dataset}\\?msg=rolled-back&dataset=${dataset}&version=${v1.info.version}&previous=`));
    const manifest = parseHeadText(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).head;
    expect(manifest).toMatchObject({ current: v1.info.version, pinned: true });
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).json()).toEqual([{ v: 1 }]);
    const shown = await (await view(rolled.headers.get("location")!, session)).text();
    expect(shown).toContain(`<p class="flash" role="status" data-field="flash">${dataset}: now serving ${v1.info.version} (was `);

    expect((await post(`/admin/datasets/${dataset}/unpin`, session)).status).toBe(303);
    expect(await pinnedIn(dataset)).toBe(false);
    expect((await post(`/admin/datasets/${dataset}/pin`, session)).status).toBe(303);
    expect(await pinnedIn(dataset)).toBe(true);

    const missing = await post(`/admin/datasets/${dataset}/rollback`, session, { version: "20000101T000000000Z-00000000", back: "dataset" });
    expect(missing.headers.get("location")).toBe(`/admin/datasets/${dataset}?msg=not-retained&dataset=${dataset}&version=20000101T000000000Z-00000000`);
  });
});

describe("status page: the banner shows only its own messages", () => {
  it.each([
    ["free text", "?msg=Your%20token%20expired%2C%20enter%20it%20at%20evil.example"],
    ["markup", "?msg=%3Cscript%3Ealert(1)%3C%2Fscript%3E"],
    ["a known message with a dataset that is no dataset name", "?msg=pinned&dataset=%3Cb%3Eevil%3C%2Fb%3E"],
    ["a known message with a version that is no version id", "?msg=rolled-back&dataset=abc&version=call%20555-0100"],
    ["a known message with an extra parameter", "?msg=pinned&dataset=abc&note=call%20us"],
    ["a known message without its dataset", "?msg=pinned"],
  ])("shows no banner for %s", async (_, query) => {
    const html = await (await view(`/admin${query}`, await signedIn())).text();
    expect(html).toContain('data-table="datasets"');
    expect(html).not.toContain('data-field="flash"');
    expect(html).not.toContain("evil");
    expect(html).not.toContain("555-0100");
  });

  it("shows a known message with its checked parts", async () => {
    const html = await (await view("/admin?msg=pinned&dataset=abc", await signedIn())).text();
    expect(html).toContain('<p class="flash" role="status" data-field="flash">abc: pinned</p>');
  });
});

describe("status page: refusals", () => {
  it.each([
    ["a null Origin", { Origin: "null" }],
    ["a null Origin even with Sec-Fetch-Site: same-origin", { Origin: "null", "Sec-Fetch-Site": "same-origin" }],
    ["no Origin", { Origin: null }],
    ["no Origin even with Sec-Fetch-Site: same-origin", { Origin: null, "Sec-Fetch-Site": "same-origin" }],
    ["a foreign Origin", { Origin: "https://evil.example" }],
    ["a same-site Origin on another port", { Origin: "https://edgesnap.test:8443" }],
  ])("refuses Pin, Rebuild, sign-out and sign-in with %s, even with the whole session, and changes nothing", async (_, headers) => {
    const dataset = uniqueDataset("page-origin");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const session = await signedIn();
    for (const action of ["pin", "rebuild"]) {
      const res = await post(`/admin/datasets/${dataset}/${action}`, session, {}, headers);
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { message: expect.stringContaining("Origin") } });
    }
    expect(await pinnedIn(dataset)).toBe(false);
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();

    for (const path of ["/admin/logout", "/admin/logout-everywhere"]) {
      const signOut = await post(path, session, {}, headers);
      expect(signOut.status).toBe(403);
      expect(signOut.headers.get("set-cookie")).toBeNull();
    }
    expect((await view("/admin", session)).status).toBe(200);

    const login = await post("/admin/login", null, { token: TOKEN }, headers);
    expect(login.status).toBe(403);
    expect(login.headers.get("set-cookie")).toBeNull();
  });

  it("refuses an action whose body is not a form, and an unknown action", async () => {
    const dataset = uniqueDataset("page-other");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const session = await signedIn();
    const json = await SELF.fetch(`${BASE}/admin/datasets/${dataset}/pin`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Cookie: session.cookie, Origin: BASE },
      body: JSON.stringify({}),
      redirect: "manual",
    });
    expect(json.status).toBe(401);
    expect((await post(`/admin/datasets/${dataset}/explode`, session)).status).toBe(404);
    expect(await pinnedIn(dataset)).toBe(false);
  });

  it("answers 413 to a sign-in form larger than 4 KiB, declared or streamed, without reading it all", async () => {
    const big = new URLSearchParams({ token: "x".repeat(5 * 1024) }).toString();
    const declared = await signInRaw(big);
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: { code: "payload_too_large", message: expect.stringContaining("4096 bytes") } });

    // 50 MB announced by nothing but a stream: refused after the first few KiB.
    let pulled = 0;
    const chunk = new TextEncoder().encode("token=" + "x".repeat(64 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        if (pulled > 800) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const streamed = await signInRaw(stream);
    expect(streamed.status).toBe(413);
    expect(pulled).toBeLessThan(10);

    // A sign-in form of normal size still works.
    expect((await signIn()).status).toBe(200);
  });
});

function signInRaw(body: string | ReadableStream<Uint8Array>): Promise<Response> {
  return SELF.fetch(`${BASE}/admin/login`, { method: "POST", headers: { "Content-Type": FORM, Origin: BASE }, body, redirect: "manual" });
}

describe("status page: framing and the content security policy", () => {
  it("forbids framing and inline script or style on every answer under /admin: the shell, a view, an asset and an error", async () => {
    const session = await signedIn();
    const answers = [await view("/admin", null), await view("/admin", session), await SELF.fetch(`${BASE}/admin/assets/page.css`), await view("/admin", { cookie: session.cookie, key: "0".repeat(64) }), await post("/admin/logout", session, {}, { Origin: "null" })];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 401, 403]);
    for (const res of answers) {
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  it("renders no inline script, no inline style and no event-handler attribute, which the CSP would block", async () => {
    const dataset = uniqueDataset("page-csp");
    await publishFakeVersion(env, { dataset, records: [{ a: 1 }] });
    await reportRun(runRecord(dataset, new Date()));
    const session = await signedIn();
    for (const html of [await (await view("/admin", null)).text(), await (await view("/admin", session)).text(), await (await view(`/admin/datasets/${dataset}`, session)).text()]) {
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/<style/);
      expect(html).not.toMatch(/\sstyle="/);
      expect(html).not.toMatch(/\son[a-z]+="/);
    }
  });
});

describe("status page: sessions", () => {
  const HOUR_MS = 3_600_000;

  // "Sign out everywhere" ends every session issued before it, those these tests make with past
  // issue times too: each test starts with no session ended.
  beforeEach(async () => {
    await env.SNAPSHOTS.delete(REVOCATIONS_KEY);
  });

  it("signing out ends the session on the server: the same cookie and key are refused afterwards, other sessions go on", async () => {
    const session = await signedIn();
    const other = await signedIn();
    const out = await post("/admin/logout", session);
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/admin");
    expect(out.headers.get("set-cookie")).toMatch(/^__Host-edgesnap_session=; Max-Age=0; Path=\/; Secure/);
    // A copy of the cookie and key kept from before (a replay) no longer opens anything.
    const replay = await view("/admin", session);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ error: { code: "unauthorized", message: "sign in again: the session was ended by a sign-out" } });
    expect((await post("/admin/logout", session)).status).toBe(401);
    // Also through a fresh app (another isolate): the revocation is in R2.
    expect((await fetchWith({}, "/admin", { headers: { Cookie: session.cookie, [KEY_HEADER]: session.key } })).status).toBe(401);
    expect((await view("/admin", other)).status).toBe(200);
  });

  it("signing out everywhere ends every session issued until then; a new sign-in works", async () => {
    const a = await signedIn();
    const b = await signedIn();
    expect((await post("/admin/logout-everywhere", a)).status).toBe(303);
    for (const session of [a, b]) expect((await view("/admin", session)).status).toBe(401);
    const fresh = await signedIn();
    expect((await view("/admin", fresh)).status).toBe(200);
  });

  it("treats an unreadable revocations object as every session ended, replaces it once, and lets a new sign-in in", async () => {
    const before = await signedIn();
    await env.SNAPSHOTS.put(REVOCATIONS_KEY, "{not json");
    expect((await view("/admin", before)).status).toBe(401);
    const healed = JSON.parse(await (await env.SNAPSHOTS.get(REVOCATIONS_KEY))!.text()) as { not_before: string };
    expect(Date.parse(healed.not_before)).toBeGreaterThan(0);
    const after = await signedIn();
    expect((await view("/admin", after)).status).toBe(200);
    expect((await view("/admin", after)).status).toBe(200);
  });

  it("keeps the revocations small: expired entries are dropped, and past the cap the oldest are folded into not_before", () => {
    const now = new Date("2026-12-01T12:00:00Z");
    const entry = (issuedMs: number, untilMs: number) => ({ id: `${issuedMs}.${"0".repeat(32)}`, until: new Date(untilMs).toISOString() });
    const t = now.getTime();
    const expired = entry(t - 20 * HOUR_MS, t - 8 * HOUR_MS);
    const live = [1, 2, 3].map((i) => entry(t - i * HOUR_MS, t + HOUR_MS));
    const result = compacted({ not_before: null, revoked: [expired, ...live] }, now, 2);
    // Cap 2: the oldest live entry (3 h old) is folded into not_before, which still ends it.
    expect(result.revoked.map((e) => e.id)).toEqual([live[1]!.id, live[0]!.id]);
    expect(result.not_before).toBe(new Date(t - 3 * HOUR_MS).toISOString());
    for (const e of live) expect(isRevoked(result, e.id)).toBe(true);
    expect(isRevoked(result, `${t}.${"1".repeat(32)}`)).toBe(false);
  });

  it("refuses a session older than 12 hours, and keeps one that is younger", async () => {
    const dataset = uniqueDataset("page-expiry");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    expect((await view("/admin", await sessionIssuedAt(new Date(Date.now() - 11.9 * HOUR_MS)))).status).toBe(200);
    const stale = await sessionIssuedAt(new Date(Date.now() - 12.1 * HOUR_MS));
    expect((await view("/admin", stale)).status).toBe(401);
    expect((await post(`/admin/datasets/${dataset}/pin`, stale)).status).toBe(401);
    expect(await pinnedIn(dataset)).toBe(false);
  });

  it("refuses a session issued in the future (a forged or far-skewed clock)", async () => {
    expect((await view("/admin", await sessionIssuedAt(new Date(Date.now() + HOUR_MS)))).status).toBe(401);
  });

  it("refuses every earlier session once the admin token changes", async () => {
    const session = await signedIn();
    const headers = { Cookie: session.cookie, [KEY_HEADER]: session.key };
    expect((await fetchWith({}, "/admin", { headers })).status).toBe(200);
    expect((await fetchWith({ EDGESNAP_TOKEN: "rotated-token-0123456789abcdef0123456789" }, "/admin", { headers })).status).toBe(401);
  });

  it("takes the lifetime from ADMIN_SESSION_HOURS, and names the var when it is not a number of hours", async () => {
    const twoHoursOld = await sessionIssuedAt(new Date(Date.now() - 2 * HOUR_MS));
    const headers = { Cookie: twoHoursOld.cookie, [KEY_HEADER]: twoHoursOld.key };
    expect((await fetchWith({ ADMIN_SESSION_HOURS: "3" }, "/admin", { headers })).status).toBe(200);
    expect((await fetchWith({ ADMIN_SESSION_HOURS: "1" }, "/admin", { headers })).status).toBe(401);
    const login = await fetchWith({ ADMIN_SESSION_HOURS: "1" }, "/admin/login", { method: "POST", headers: { "Content-Type": FORM, Origin: BASE }, body: `token=${TOKEN}` });
    expect(login.headers.get("set-cookie")).toContain("Max-Age=3600");
    const broken = await fetchWith({ ADMIN_SESSION_HOURS: "twelve" }, "/admin", { headers });
    expect(broken.status).toBe(500);
    expect(await broken.json()).toMatchObject({ error: { message: 'ADMIN_SESSION_HOURS must be a positive number of hours up to 9600, not "twelve"' } });
    const tooLong = await fetchWith({ ADMIN_SESSION_HOURS: "10000" }, "/admin/login", { method: "POST", headers: { "Content-Type": FORM, Origin: BASE }, body: `token=${TOKEN}` });
    expect(tooLong.status).toBe(500);
    expect(tooLong.headers.get("set-cookie")).toBeNull();
    expect(await tooLong.json()).toMatchObject({ error: { message: expect.stringContaining('up to 9600, not "10000"') } });
  });
});

describe("status page: storage reads", () => {
  interface Operation {
    method: string;
    target: string;
  }

  /** The R2 binding, recording each call with the key or listing prefix it names. */
  function countingBucket(bucket: R2Bucket, log: Operation[]): R2Bucket {
    return new Proxy(bucket, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const first = args[0];
          const targetName = typeof first === "string" ? first : ((first as R2ListOptions | undefined)?.prefix ?? "");
          log.push({ method: String(property), target: targetName });
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  it("reads each dataset's runs once per view: one listing and one read per run shown, and the session's revocations once", async () => {
    const dataset = uniqueDataset("page-reads");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const runs = [1, 2, 3].map((i) => runRecord(dataset, new Date(Date.now() - i * 60_000), { outcome: i === 1 ? "failed" : "ok" }));
    for (const run of runs) await reportRun(run);
    const session = await signedIn();

    const log: Operation[] = [];
    const page = await fetchWith({ SNAPSHOTS: countingBucket(env.SNAPSHOTS, log) }, "/admin", { headers: { Cookie: session.cookie, [KEY_HEADER]: session.key } });
    const html = await page.text();
    // last_run in the overview table comes from the runs already read: the newest one failed.
    expect(html).toMatch(new RegExp(`<tr data-dataset="${dataset}">(?:(?!</tr>).)*<td class="o-failed">failed</td>`));

    const mine = log.filter((op) => op.target.startsWith(`runs/${dataset}/`));
    expect(mine.filter((op) => op.method === "list")).toHaveLength(1);
    expect(mine.filter((op) => op.method === "get")).toHaveLength(runs.length);
    // The head, the current version's index and the rebuild-request pointer are read once each;
    // nothing is read twice.
    expect(log.filter((op) => op.target.includes(dataset))).toHaveLength(runs.length + 4);
    expect(log.filter((op) => op.target === REVOCATIONS_KEY)).toHaveLength(1);
    const seen = log.map((op) => `${op.method} ${op.target}`);
    expect(seen.length).toBe(new Set(seen).size);
  });
});

describe("noStore", () => {
  it("keeps Cache-Control: no-store on a response whose handler set its own", async () => {
    const app = new Hono();
    app.use("/admin/*", noStore());
    app.get("/admin/header", (c) => {
      c.header("Cache-Control", "public, max-age=60");
      return c.text("x");
    });
    app.get("/admin/raw", () => new Response("x", { headers: { "Cache-Control": "public, max-age=60" } }));
    app.get("/admin/plain", () => new Response("x"));
    for (const path of ["/admin/header", "/admin/raw", "/admin/plain"]) {
      expect((await app.request(path)).headers.get("cache-control"), path).toBe("no-store");
    }
  });
});
