/**
 * End to end: start the embedded default exactly as the README does (`npm start`), fetch the
 * published snapshots over HTTP from the local Worker, change a dataset's source and watch the new
 * version go live while the old one stays at its versioned URL, then stop with SIGINT (a Ctrl-C)
 * and check that no process is left.
 */
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../compute/cli/main.ts";
import { localTokenPath } from "../../compute/embedded/local-token.ts";
import { startNpmStart, type NpmStart } from "../support/npm-start.ts";
import { descendantsOf, isAlive, waitFor } from "../support/processes.ts";

describe("embedded default (npm start)", () => {
  let work: string;
  let csv: string;
  let base: string;
  let system: NpmStart;
  let startedAt: number;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-e2e-"));
    csv = path.join(work, "greetings.csv");
    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\n");
    startedAt = Date.now();
    system = await startNpmStart({
      EDGESNAP_PERSIST_TO: path.join(work, "state"),
      EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
      EDGESNAP_DATASETS: "test/e2e/fixtures/datasets.ts",
      EDGESNAP_SCHEDULES: JSON.stringify({ "e2e-greetings": "*/2 * * * * *" }),
      E2E_SOURCE_CSV: csv,
    });
    base = system.base;
  }, 30_000);

  afterAll(async () => {
    await system?.stop(0);
    await rm(work, { recursive: true, force: true });
  });

  it("serves the example snapshot over HTTP soon after start", async () => {
    const response = await waitFor(
      "airport-delays to be served",
      async () => {
        const r = await fetch(`${base}/v1/datasets/airport-delays`);
        return r.status === 200 ? r : undefined;
      },
      90_000,
    ).catch((error) => {
      throw new Error(`${error.message}\n--- npm start output ---\n${system.output().slice(-4000)}`);
    });
    console.log(`first snapshot served ${((Date.now() - startedAt) / 1000).toFixed(1)} s after npm start`);
    const etag = response.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(response.headers.get("x-edgesnap-version")).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{8}$/);
    const rows = (await response.json()) as { iata: string; flights: number }[];
    const ord = rows.find((row) => row.iata === "ORD");
    expect(ord?.flights).toBeGreaterThan(100_000);

    const revalidated = await fetch(`${base}/v1/datasets/airport-delays`, { headers: { "If-None-Match": etag! } });
    expect(revalidated.status).toBe(304);

    const item = await fetch(`${base}/v1/datasets/airport-delays/items/ATL`);
    expect(item.status).toBe(200);
    expect(((await item.json()) as { name: string }).name).toContain("Atlanta");
  }, 120_000);

  it("publishes a changed dataset as a new version and keeps the old one at its versioned URL", async () => {
    const first = await waitFor(
      "e2e-greetings v1",
      async () => {
        const r = await fetch(`${base}/v1/datasets/e2e-greetings`);
        return r.status === 200 ? { version: r.headers.get("x-edgesnap-version")!, body: await r.json() } : undefined;
      },
      60_000,
    );
    expect(first.body).toEqual([
      { lang: "en", greeting: "hello" },
      { lang: "fr", greeting: "bonjour" },
    ]);

    await writeFile(csv, "lang,greeting\nen,hello\nfr,bonjour\nde,hallo\n");
    const second = await waitFor(
      "e2e-greetings v2",
      async () => {
        const r = await fetch(`${base}/v1/datasets/e2e-greetings`);
        const version = r.headers.get("x-edgesnap-version");
        return r.status === 200 && version !== first.version ? { version, body: await r.json() } : undefined;
      },
      60_000,
    );
    expect(second.body).toContainEqual({ lang: "de", greeting: "hallo" });

    const old = await fetch(`${base}/v1/datasets/e2e-greetings/versions/${first.version}`);
    expect(old.status).toBe(200);
    expect(old.headers.get("cache-control")).toContain("immutable");
    expect(await old.json()).toEqual(first.body);

    const item = await fetch(`${base}/v1/datasets/e2e-greetings/items/de`);
    expect(await item.json()).toEqual({ lang: "de", greeting: "hallo" });
  }, 120_000);

  it("lets the operator commands use the local start's token without configuring one", async () => {
    let stdout = "";
    const saved = { ...process.env };
    delete process.env.EDGESNAP_TOKEN;
    Object.assign(process.env, { EDGESNAP_EDGE_URL: base, EDGESNAP_PERSIST_TO: path.join(work, "state") });
    try {
      const code = await runCli(["status", "--json"], { stdout: (t) => (stdout += t), stderr: () => {} });
      expect(code).toBe(0);
    } finally {
      process.env = saved;
    }
    const names = (JSON.parse(stdout) as { datasets: { name: string }[] }).datasets.map((d) => d.name);
    expect(names).toContain("airport-delays");
  }, 30_000);

  it("stops everything on SIGINT and leaves no process behind", async () => {
    const { app } = system;
    const pid = app.pid!;
    const before = descendantsOf(pid);
    expect(before.length).toBeGreaterThan(2); // npm's shell, edgesnap, wrangler, workerd...
    const exited = new Promise<string>((resolve) => app.once("exit", (code, signal) => resolve(signal ?? `code ${code}`)));
    process.kill(-pid, "SIGINT"); // what a terminal's Ctrl-C does: the whole foreground group
    // npm itself ends by the signal it was sent (or 130); edgesnap below it exits 0.
    expect(["code 0", "code 130", "SIGINT"]).toContain(await exited);
    expect(system.output()).toContain('"event":"scheduler-stopped"');
    await waitFor("every process to exit", async () => (before.every((p) => !isAlive(p)) ? true : undefined), 15_000);
    expect(before.filter(isAlive)).toEqual([]);
    await expect(access(localTokenPath(path.join(work, "state")))).rejects.toThrow();
  }, 60_000);
});
