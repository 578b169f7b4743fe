/**
 * A real local edge for scheduler tests: `wrangler dev` (local workerd, R2 on disk in a temp dir)
 * with the admin token and the storage API on, as `npm start` runs it, and the environment a real
 * `edgesnap scheduler` process needs to publish through it and report its runs to it.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { freePort } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

export interface LocalEdge {
  edge: WranglerDev;
  token: string;
  /** A private work dir (the local state lives in `<work>/state`). */
  work: string;
  /** What `edgesnap scheduler` (or `run`) needs to write this edge's store and report to it. */
  env(): Record<string, string>;
  /** GET or POST on the admin API with the token. */
  admin(pathname: string, body?: unknown): Promise<Response>;
  stop(): Promise<void>;
}

export async function startLocalEdge(options: { secrets?: Record<string, string>; onLine?: (line: string) => void } = {}): Promise<LocalEdge> {
  const work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-sched-edge-"));
  const token = `sched-test-token-${randomBytes(16).toString("hex")}`;
  const persistTo = path.join(work, "state");
  const edge = await startWranglerDev({
    port: await freePort(),
    persistTo,
    configPath: path.join(REPO_ROOT, "wrangler.toml"),
    secrets: { EDGESNAP_TOKEN: token, EDGESNAP_STORAGE_API: "on", ...options.secrets },
    onLine: options.onLine ?? (() => {}),
  });
  return {
    edge,
    token,
    work,
    env: () => ({
      EDGESNAP_STORE: "local",
      EDGESNAP_PERSIST_TO: persistTo,
      EDGESNAP_WRANGLER_CONFIG: path.join(REPO_ROOT, "wrangler.toml"),
      EDGESNAP_EDGE_URL: edge.url,
      EDGESNAP_TOKEN: token,
    }),
    admin: (pathname, body) =>
      fetch(`${edge.url}/admin/v1${pathname}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async stop() {
      await edge.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
