/**
 * The status page inside workerd: sign-in sets an HttpOnly session cookie (never the token
 * itself) that expires and dies with the token, the page shows nothing without it, renders datasets
 * and runs with it reading each dataset's runs once, its forms act on the same R2 state as the admin
 * API, every form post is refused unless it comes from the page's own origin with the session's
 * CSRF token, and nothing of it is cacheable.
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { makeRunId, manifestObjectKey, parseManifest, requestPointerKey, type RunRecord } from "../../contract/index.ts";
import { createApp } from "../../edge/app.ts";
import { createSessionValue, noStore } from "../../edge/http/auth.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

const FORM = "application/x-www-form-urlencoded";

async function signIn(token = "test-token-0123456789abcdef0123456789abcdef", origin: string | null = BASE): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": FORM };
  if (origin !== null) headers.Origin = origin;
  return SELF.fetch(`${BASE}/admin/login`, { method: "POST", headers, body: new URLSearchParams({ token }).toString(), redirect: "manual" });
}

async function sessionCookie(): Promise<string> {
  const res = await signIn();
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

/** The CSRF token of the first form on a page. */
function csrfField(html: string): string {
  const match = /<input type="hidden" name="csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error("the page has no CSRF field");
  return match[1]!;
}

interface Session {
  cookie: string;
  /** Left out of the form when undefined. */
  csrf?: string;
}

/** Signs in and reads the CSRF token the page puts into its forms. */
async function signedIn(): Promise<Required<Session>> {
  const cookie = await sessionCookie();
  const page = await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: cookie } });
  return { cookie, csrf: csrfField(await page.text()) };
}

/** A form post as the page's own forms make it, unless `headers` say otherwise (null drops one). */
function post(path: string, session: Session | null, form: Record<string, string> = {}, headers: Record<string, string | null> = {}): Promise<Response> {
  const merged: Record<string, string | null> = { "Content-Type": FORM, Origin: BASE, Cookie: session?.cookie ?? null, ...headers };
  const sent = Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== null));
  const body = new URLSearchParams(session?.csrf === undefined ? form : { csrf: session.csrf, ...form }).toString();
  return SELF.fetch(`${BASE}${path}`, { method: "POST", headers: sent, body, redirect: "manual" });
}

async function pinnedIn(dataset: string): Promise<boolean> {
  return parseManifest(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()).pinned;
}

/** Whether a page is the sign-in form rather than the status page. */
async function isSignInForm(res: Response): Promise<boolean> {
  return (await res.text()).includes('name="token"');
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
  const res = await SELF.fetch(`${BASE}/admin/v1/runs`, { method: "POST", headers: { Authorization: "Bearer test-token-0123456789abcdef0123456789abcdef", "Content-Type": "application/json" }, body: JSON.stringify(record) });
  expect(res.status).toBe(201);
}

/** Runs the Worker's app with `overrides` on top of the test's bindings. */
function fetchWith(overrides: Partial<Record<keyof Env, unknown>>, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(createApp().fetch(new Request(`${BASE}${path}`, { redirect: "manual", ...init }), { ...env, ...overrides } as Env, createExecutionContext()));
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

  it("signs in with the token into an HttpOnly, SameSite=Strict cookie that does not contain the token and lasts 12 hours", async () => {
    const res = await signIn();
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^edgesnap_session=\d+\.[0-9a-f]{32}\.[0-9a-f]{64};/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/admin");
    expect(cookie).toContain("Max-Age=43200");
    expect(cookie).not.toContain("test-token-0123456789abcdef0123456789abcdef");
    // A forged cookie is no session.
    const forged = await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: "edgesnap_session=test-token" } });
    expect(await isSignInForm(forged)).toBe(true);
  });

  it("renders each dataset with its version, runs and a duration/memory chart", async () => {
    const dataset = uniqueDataset("page");
    const { info } = await publishFakeVersion(env, { dataset, records: [{ a: 1 }, { a: 2 }] });
    const record = runRecord(dataset, new Date(), { bytes: info.bytes, version: info.version });
    await reportRun(record);
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
    const session = await signedIn();

    const rebuilt = await post(`/admin/datasets/${dataset}/rebuild`, session);
    expect(rebuilt.status).toBe(303);
    expect(rebuilt.headers.get("location")).toContain("rebuild%20requested");
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).not.toBeNull();
    // While a request is pending the page reloads itself, but no more often than every 5 s.
    const busy = await (await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: session.cookie } })).text();
    const refresh = /<meta http-equiv="refresh" content="(\d+)"/.exec(busy);
    expect(refresh).not.toBeNull();
    expect(Number(refresh![1])).toBeGreaterThanOrEqual(5);

    expect((await post(`/admin/datasets/${dataset}/rollback`, session, { version: v1.info.version })).status).toBe(303);
    const manifest = parseManifest(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text());
    expect(manifest).toMatchObject({ current: v1.info.version, pinned: true });
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}`)).json()).toEqual([{ v: 1 }]);

    expect((await post(`/admin/datasets/${dataset}/unpin`, session)).status).toBe(303);
    expect(await pinnedIn(dataset)).toBe(false);
    expect((await post(`/admin/datasets/${dataset}/pin`, session)).status).toBe(303);
    expect(await pinnedIn(dataset)).toBe(true);
  });

  it("puts the session's CSRF token into every form but the sign-in form", async () => {
    await publishFakeVersion(env, { dataset: uniqueDataset("page-forms"), records: [{ v: 1 }] });
    const signInPage = await (await SELF.fetch(`${BASE}/admin`)).text();
    expect(signInPage).not.toContain('name="csrf"');
    const session = await signedIn();
    const html = await (await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: session.cookie } })).text();
    const forms = html.match(/<form /g)?.length ?? 0;
    expect(forms).toBeGreaterThan(2);
    expect(html.match(/<input type="hidden" name="csrf" value="[0-9a-f]{64}"\/>/g)?.length).toBe(forms);
    expect(html.split(session.csrf).length - 1).toBe(forms);
    // The token is the session's own: another session gets another one.
    expect((await signedIn()).csrf).not.toBe(session.csrf);
  });
});

describe("status page: refusals", () => {
  it("refuses actions without a session, and changes nothing", async () => {
    const dataset = uniqueDataset("page-anon-act");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const anonymous = await post(`/admin/datasets/${dataset}/rebuild`, null);
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toBe("/admin");
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();
  });

  it.each([
    ["a null Origin", { Origin: "null" }],
    ["a null Origin even with Sec-Fetch-Site: same-origin", { Origin: "null", "Sec-Fetch-Site": "same-origin" }],
    ["no Origin", { Origin: null }],
    ["no Origin even with Sec-Fetch-Site: same-origin", { Origin: null, "Sec-Fetch-Site": "same-origin" }],
    ["a foreign Origin", { Origin: "https://evil.example" }],
    ["a same-site Origin on another port", { Origin: "https://edgesnap.test:8443" }],
  ])("refuses Pin, Rebuild, sign-out and sign-in with %s, and changes nothing", async (_, headers) => {
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

    const signOut = await post("/admin/logout", session, {}, headers);
    expect(signOut.status).toBe(403);
    expect(signOut.headers.get("set-cookie")).toBeNull();

    const login = await post("/admin/login", null, { token: "test-token-0123456789abcdef0123456789abcdef" }, headers);
    expect(login.status).toBe(403);
    expect(login.headers.get("set-cookie")).toBeNull();
  });

  it.each([
    ["no CSRF token", (_: string) => undefined],
    ["a wrong CSRF token", (csrf: string) => csrf.replace(/^./, (c) => (c === "0" ? "1" : "0"))],
    ["an empty CSRF token", (_: string) => ""],
  ])("refuses same-origin actions with %s, and changes nothing", async (_, tamper) => {
    const dataset = uniqueDataset("page-token");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const session = await signedIn();
    const forged = { cookie: session.cookie, csrf: tamper(session.csrf) };
    for (const path of [`/admin/datasets/${dataset}/pin`, `/admin/datasets/${dataset}/rebuild`, "/admin/logout"]) {
      const res = await post(path, forged);
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { message: expect.stringContaining("CSRF token") } });
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    expect(await pinnedIn(dataset)).toBe(false);
    expect(await env.SNAPSHOTS.get(requestPointerKey(dataset))).toBeNull();
  });

  it("refuses another session's CSRF token, and a body that is not a form", async () => {
    const dataset = uniqueDataset("page-other");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const mine = await signedIn();
    const theirs = await signedIn();
    expect((await post(`/admin/datasets/${dataset}/pin`, { cookie: mine.cookie, csrf: theirs.csrf })).status).toBe(403);
    // A JSON body skips hono's Origin check (a browser cannot send one cross-origin without a
    // preflight); it still carries no CSRF field.
    const json = await SELF.fetch(`${BASE}/admin/datasets/${dataset}/pin`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Cookie: mine.cookie },
      body: JSON.stringify({ csrf: mine.csrf }),
      redirect: "manual",
    });
    expect(json.status).toBe(403);
    expect(await pinnedIn(dataset)).toBe(false);
  });

  it("signs out with the CSRF token: the cookie is cleared", async () => {
    const session = await signedIn();
    const res = await post("/admin/logout", session);
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/^edgesnap_session=;.*Max-Age=0/);
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
    expect((await signIn()).status).toBe(303);
  });
});

function signInRaw(body: string | ReadableStream<Uint8Array>): Promise<Response> {
  return SELF.fetch(`${BASE}/admin/login`, { method: "POST", headers: { "Content-Type": FORM, Origin: BASE }, body, redirect: "manual" });
}

describe("status page: sessions", () => {
  const HOUR_MS = 3_600_000;

  it("refuses a session older than 12 hours, and keeps one that is younger", async () => {
    const dataset = uniqueDataset("page-expiry");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const fresh = `edgesnap_session=${await createSessionValue("test-token-0123456789abcdef0123456789abcdef", new Date(Date.now() - 11.9 * HOUR_MS))}`;
    expect(await isSignInForm(await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: fresh } }))).toBe(false);

    const stale = `edgesnap_session=${await createSessionValue("test-token-0123456789abcdef0123456789abcdef", new Date(Date.now() - 12.1 * HOUR_MS))}`;
    const page = await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: stale } });
    expect(await isSignInForm(page)).toBe(true);
    const action = await post(`/admin/datasets/${dataset}/pin`, { cookie: stale, csrf: "0".repeat(64) });
    expect(action.status).toBe(303);
    expect(action.headers.get("location")).toBe("/admin");
    expect(await pinnedIn(dataset)).toBe(false);
  });

  it("refuses a session issued in the future (a forged or far-skewed clock)", async () => {
    const future = `edgesnap_session=${await createSessionValue("test-token-0123456789abcdef0123456789abcdef", new Date(Date.now() + HOUR_MS))}`;
    expect(await isSignInForm(await SELF.fetch(`${BASE}/admin`, { headers: { Cookie: future } }))).toBe(true);
  });

  it("refuses every earlier session once the admin token changes", async () => {
    const cookie = await sessionCookie();
    expect(await isSignInForm(await fetchWith({}, "/admin", { headers: { Cookie: cookie } }))).toBe(false);
    expect(await isSignInForm(await fetchWith({ EDGESNAP_TOKEN: "rotated-token-0123456789abcdef0123456789" }, "/admin", { headers: { Cookie: cookie } }))).toBe(true);
  });

  it("takes the lifetime from ADMIN_SESSION_HOURS, and names the var when it is not a number of hours", async () => {
    const twoHoursOld = `edgesnap_session=${await createSessionValue("test-token-0123456789abcdef0123456789abcdef", new Date(Date.now() - 2 * HOUR_MS))}`;
    expect(await isSignInForm(await fetchWith({ ADMIN_SESSION_HOURS: "3" }, "/admin", { headers: { Cookie: twoHoursOld } }))).toBe(false);
    expect(await isSignInForm(await fetchWith({ ADMIN_SESSION_HOURS: "1" }, "/admin", { headers: { Cookie: twoHoursOld } }))).toBe(true);
    const login = await fetchWith({ ADMIN_SESSION_HOURS: "1" }, "/admin/login", { method: "POST", headers: { "Content-Type": FORM, Origin: BASE }, body: "token=test-token-0123456789abcdef0123456789abcdef" });
    expect(login.headers.get("set-cookie")).toContain("Max-Age=3600");
    const broken = await fetchWith({ ADMIN_SESSION_HOURS: "twelve" }, "/admin", { headers: { Cookie: twoHoursOld } });
    expect(broken.status).toBe(500);
    expect(await broken.json()).toMatchObject({ error: { message: 'ADMIN_SESSION_HOURS must be a positive number of hours up to 9600, not "twelve"' } });
    const tooLong = await fetchWith({ ADMIN_SESSION_HOURS: "10000" }, "/admin/login", { method: "POST", headers: { "Content-Type": FORM, Origin: BASE }, body: "token=test-token-0123456789abcdef0123456789abcdef" });
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

  it("reads each dataset's runs once per page load: one listing and one read per run shown", async () => {
    const dataset = uniqueDataset("page-reads");
    await publishFakeVersion(env, { dataset, records: [{ v: 1 }] });
    const runs = [1, 2, 3].map((i) => runRecord(dataset, new Date(Date.now() - i * 60_000), { outcome: i === 1 ? "failed" : "ok" }));
    for (const run of runs) await reportRun(run);
    const cookie = await sessionCookie();

    const log: Operation[] = [];
    const page = await fetchWith({ SNAPSHOTS: countingBucket(env.SNAPSHOTS, log) }, "/admin", { headers: { Cookie: cookie } });
    const html = await page.text();
    // last_run in the overview table comes from the runs already read: the newest one failed.
    expect(html).toMatch(new RegExp(`<tr data-dataset="${dataset}">(?:(?!</tr>).)*<td class="o-failed">failed</td>`));

    const mine = log.filter((op) => op.target.startsWith(`runs/${dataset}/`));
    expect(mine.filter((op) => op.method === "list")).toHaveLength(1);
    expect(mine.filter((op) => op.method === "get")).toHaveLength(runs.length);
    // The manifest and the rebuild-request pointer are read once each; nothing is read twice.
    expect(log.filter((op) => op.target.includes(dataset))).toHaveLength(runs.length + 3);
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
