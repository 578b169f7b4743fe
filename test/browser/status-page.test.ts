/**
 * The status page in real headless Chromium, against the whole system started the way the README
 * starts it (`npm start`: wrangler dev plus the scheduler): a page on another port of the same host
 * (same site, so the SameSite=Strict cookie is sent) that auto-posts Pin and Rebuild changes
 * nothing; sign in with the token, press Rebuild and watch the run appear and finish with a new
 * version, roll back and see the previous version served at the public URL, unpin, sign out. Then
 * end to end from the CLI: a rebuild requested with `edgesnap rebuild --wait` is executed by the
 * running scheduler and its version is served.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Frame, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../compute/cli/main.ts";
import { startNpmStart, type NpmStart } from "../support/npm-start.ts";
import { waitFor } from "../support/processes.ts";

const TOKEN = "browser-test-token-51c9-0123456789abcdef";
const DATASET = "ops-greetings";

/**
 * A page that, once opened, posts Pin and Rebuild for DATASET to `base` from hidden frames. Its
 * no-referrer policy makes Chromium send `Origin: null`.
 */
function forgeryPage(base: string): string {
  return `<!doctype html>
<html><head><meta name="referrer" content="no-referrer"><title>cute cats</title></head>
<body>
<iframe name="pin"></iframe><iframe name="rebuild"></iframe>
<form name="pin" method="post" target="pin" action="${base}/admin/datasets/${DATASET}/pin"></form>
<form name="rebuild" method="post" target="rebuild" action="${base}/admin/datasets/${DATASET}/rebuild"></form>
<script>document.forms.pin.submit(); document.forms.rebuild.submit();</script>
</body></html>`;
}

/** Serves `html` on a free port of 127.0.0.1: another origin of the same site as the Worker. */
async function serveOnOtherPort(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end(html));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
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

  /** The dataset section as the page shows it after a reload. */
  async function shown(): Promise<{ current: string; runs: { trigger: string; outcome: string; version: string }[] }> {
    await page.reload();
    const section = page.locator(`section[data-dataset="${DATASET}"]`);
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
    page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone-sized window
    await waitFor("the first version to be served", () => servedVersion().catch(() => undefined), 90_000).catch((error) => {
      throw new Error(`${error.message}\n--- npm start output ---\n${system.output().slice(-4000)}`);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    await rm(work, { recursive: true, force: true });
  }, 40_000);

  /** The admin API's view of the dataset, and whether any rebuild request ever ran for it. */
  async function adminView(): Promise<{ pinned: boolean; pending: unknown; rebuildRuns: number }> {
    const headers = { Authorization: `Bearer ${TOKEN}` };
    const row = (await (await fetch(`${base}/admin/v1/datasets/${DATASET}`, { headers })).json()) as { pinned: boolean; pending_request: unknown };
    const runs = (await (await fetch(`${base}/admin/v1/datasets/${DATASET}/runs?limit=100`, { headers })).json()) as { runs: { trigger: string }[] };
    return { pinned: row.pinned, pending: row.pending_request, rebuildRuns: runs.runs.filter((r) => r.trigger === "rebuild-request").length };
  }

  it("a page on another port of the same host that auto-posts Pin and Rebuild with Origin: null changes nothing", async () => {
    expect(await adminView()).toEqual({ pinned: false, pending: null, rebuildRuns: 0 });
    const context = await browser.newContext();
    const attacker = await serveOnOtherPort(forgeryPage(base));
    try {
      const victim = await context.newPage();
      await victim.goto(`${base}/admin`);
      await victim.fill('input[name="token"]', TOKEN);
      await victim.click('button[type="submit"]');
      await victim.locator(`section[data-dataset="${DATASET}"]`).waitFor({ timeout: 10_000 });
      // The session cookie is one the browser would send to a same-site page's posts.
      expect((await context.cookies(`${base}/admin`)).map((c) => [c.name, c.sameSite])).toEqual([["edgesnap_session", "Strict"]]);

      const page = await context.newPage();
      const posts: Promise<[string, string | undefined, boolean]>[] = [];
      page.on("request", (r) => {
        if (r.method() !== "POST") return;
        posts.push(r.allHeaders().then((h) => [new URL(r.url()).pathname, h.origin, h.cookie?.includes("edgesnap_session=") ?? false]));
      });
      await page.goto(attacker.url);
      const answered = async (name: string): Promise<Frame> =>
        waitFor(`the forged ${name} post to be answered`, async () => {
          const frame = page.frame({ name });
          if (!frame?.url().startsWith(base)) return undefined;
          await frame.waitForLoadState("load");
          return frame;
        }, 20_000, 100);
      for (const name of ["pin", "rebuild"]) {
        const frame = await answered(name);
        const text = (await frame.locator("body").textContent()) ?? "";
        expect(text, `what the forged ${name} post got`).toContain("refused");
        expect(text).not.toContain(DATASET);
      }
      // Chromium did send both posts with Origin: null and the session cookie: only the Worker refused them.
      expect((await Promise.all(posts)).sort()).toEqual([
        [`/admin/datasets/${DATASET}/pin`, "null", true],
        [`/admin/datasets/${DATASET}/rebuild`, "null", true],
      ]);
      expect(await adminView()).toEqual({ pinned: false, pending: null, rebuildRuns: 0 });
    } finally {
      await context.close();
      await new Promise((resolve) => attacker.server.close(resolve));
    }
  }, 60_000);

  it("signs in with the token, presses Rebuild, sees the run finish with a new version, rolls back and the public URL serves the previous version", async () => {
    const first = await servedVersion();
    await page.goto(`${base}/admin`);
    await page.fill('input[name="token"]', TOKEN);
    await page.click('button[type="submit"]');
    const section = page.locator(`section[data-dataset="${DATASET}"]`);
    await section.waitFor({ timeout: 10_000 });
    expect((await section.locator('[data-field="current"]').textContent())?.trim()).toBe(first.version);
    // The token lives only in an HttpOnly cookie: not in the URL, the page, or script-visible cookies.
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.content()).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).not.toContain(TOKEN);

    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\n");
    await section.locator('button[data-action="rebuild"]').click();
    expect(await page.locator('[data-field="flash"]').textContent()).toContain("rebuild requested");

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

    // Roll back to the first version with the page's form.
    await page.reload();
    await section.locator("select[name=version]").selectOption(first.version);
    await section.locator('button[data-action="rollback"]').click();
    expect(await page.locator('[data-field="flash"]').textContent()).toContain(`now serving ${first.version}`);
    expect((await section.locator('[data-field="current"]').textContent())?.trim()).toBe(first.version);
    expect(await section.locator('[data-field="pinned"]').count()).toBe(1);
    const rolledBack = await servedVersion();
    expect(rolledBack.version).toBe(first.version);
    expect(rolledBack.body).toEqual(first.body);

    // Unpin and pin again with the page's button, then sign out.
    await section.locator('button[data-action="unpin"]').click();
    expect(await page.locator('[data-field="flash"]').textContent()).toContain(`${DATASET}: unpinned`);
    expect(await section.locator('[data-field="pinned"]').count()).toBe(0);
    await section.locator('button[data-action="pin"]').click();
    expect(await page.locator('[data-field="flash"]').textContent()).toContain(`${DATASET}: pinned`);
    await page.click('button[data-action="sign-out"]');
    expect(await page.locator('input[name="token"]').count()).toBe(1);
    expect(await page.context().cookies(`${base}/admin`)).toEqual([]);
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
