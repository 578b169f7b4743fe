/**
 * Guessing the admin token against a real `wrangler dev` (what `npm start` runs), from Node: after 10
 * wrong tokens in a minute the 11th guess and then the right token are refused with 429, even when
 * each guess claims another client address in CF-Connecting-IP (wrangler dev passes that header on
 * as sent, so a local Worker counts all its clients as one).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { freePort } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "token-guessing-test-0123456789abcdef01234567";

describe("wrong admin tokens against wrangler dev", () => {
  let work: string;
  let edge: WranglerDev;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-guessing-"));
    edge = await startWranglerDev({
      port: await freePort(),
      persistTo: path.join(work, "state"),
      configPath: path.join(REPO_ROOT, "wrangler.toml"),
      secrets: { EDGESNAP_TOKEN: TOKEN },
      adminToken: TOKEN,
      onLine: () => {},
    });
  }, 120_000);

  afterAll(async () => {
    await edge?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("refuses the 11th wrong token in a minute and then the right one with 429, whatever address each guess claims", async () => {
    const guess = (token: string, address: string) => fetch(`${edge.url}/admin/v1/datasets`, { headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": address } });
    const window = () => Math.floor(Date.now() / 60_000);
    const first = window();
    const statuses: number[] = [];
    for (let i = 0; i < 30 && !statuses.includes(429); i++) statuses.push((await guess(`wrong-${i}-0123456789abcdef0123456789`, `203.0.113.${i}`)).status);
    // The binding's minute is aligned to the clock: straddling its end restarts the count once.
    if (window() === first) expect(statuses).toEqual([...Array(10).fill(401), 429]);
    else expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(10);
    const right = await guess(TOKEN, "198.51.100.7");
    expect(right.status).toBe(429);
    expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 60_000);
});
