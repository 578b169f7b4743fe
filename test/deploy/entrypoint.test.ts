/**
 * The container's entrypoint, run as a plain process exactly as the image runs it (there is no
 * Docker engine here): `node compute/cli/bin.ts scheduler` from the repository root, with the S3
 * store pointed at a real S3-protocol server (s3rver), a fixture registry, and a small HTTP server
 * standing in for the Worker's publish-notice endpoint. Proves: /healthz answers, a run publishes
 * over S3, the notice arrives with the bearer token, SIGTERM exits 0 leaving no process, secrets
 * never reach the logs, and a missing S3 setting stops the process at once (exit 2, one line).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestObjectKey, pageObjectKey } from "../../contract/keys.ts";
import { parseHeadText } from "../../contract/head.ts";
import { readPublished } from "../compute/helpers.ts";
import { PUBLISH_NOTICE_PATH } from "../../compute/edge-client/notice.ts";
import { openS3Store } from "../../compute/storage/s3.ts";
import { S3_TEST_BUCKET, S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from "../storage/s3-server.ts";
import { descendantsOf, freePort, isAlive, waitFor } from "../support/processes.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** The Node the image runs (node:22 base); here the project's Node 22 devDependency. */
const NODE = path.join(ROOT, "node_modules/.bin/node");
/** The image's ENTRYPOINT (after tini) and CMD; see the Dockerfile. */
const ENTRYPOINT = ["compute/cli/bin.ts", "scheduler"];
const TOKEN = "entrypoint-test-token-4f9c2a-0123456789abcdef";

interface Notice {
  authorization: string | undefined;
  body: { dataset: string; version: string };
}

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<[number | null, NodeJS.Signals | null]>;
}

/** The process environment without any EDGESNAP_* the developer may have set, plus `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EDGESNAP_")));
  return { ...base, ...env };
}

function startEntrypoint(env: Record<string, string>): Started {
  const child = spawn(NODE, ENTRYPOINT, { cwd: ROOT, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exit = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

describe("the container entrypoint as a plain process", () => {
  let s3: S3TestServer;
  let edge: http.Server;
  let edgeUrl: string;
  const notices: Notice[] = [];
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-entrypoint-"));
    s3 = await startS3TestServer();
    edge = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        if (req.method === "POST" && req.url === PUBLISH_NOTICE_PATH) {
          notices.push({ authorization: req.headers.authorization, body: JSON.parse(body) as Notice["body"] });
          res.writeHead(204).end();
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => edge.listen(0, "127.0.0.1", resolve));
    edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => edge?.close(() => resolve()));
    await s3?.close();
    await rm(work, { recursive: true, force: true });
  });

  const s3Env = () => ({
    EDGESNAP_STORE: "s3",
    EDGESNAP_S3_ENDPOINT: s3.endpoint,
    EDGESNAP_S3_BUCKET: S3_TEST_BUCKET,
    EDGESNAP_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
    EDGESNAP_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
    EDGESNAP_EDGE_URL: edgeUrl,
    EDGESNAP_TOKEN: TOKEN,
    EDGESNAP_DATASETS: "test/deploy/fixtures/datasets.ts",
    EDGESNAP_CONCURRENCY: "1",
  });

  it("serves /healthz, publishes over S3, notifies the edge with the token and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const tempRoot = path.join(work, "tmp");
    const started = startEntrypoint({ ...s3Env(), EDGESNAP_METRICS_PORT: String(port), EDGESNAP_TEMP_ROOT: tempRoot });
    const { child } = started;
    try {
      const health = await waitFor(
        "/healthz",
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/healthz`);
          return response.ok ? ((await response.json()) as { status: string }) : undefined;
        },
        30_000,
      );
      expect(health.status).toBe("ok");

      const notice = await waitFor("the publish notice", async () => notices[0], 60_000);
      expect(notice.authorization).toBe(`Bearer ${TOKEN}`);
      expect(notice.body.dataset).toBe("stations");

      const store = await openS3Store({ endpoint: s3.endpoint, bucket: S3_TEST_BUCKET, ...S3_TEST_CREDENTIALS });
      try {
        const manifestObject = await store.get(manifestObjectKey("stations"));
        expect(manifestObject).not.toBeNull();
        const manifest = parseHeadText(await manifestObject!.text()).head;
        expect(manifest.current).toBe(notice.body.version);
        const body = await store.get(pageObjectKey("stations", (await readPublished(store, "stations"))!.current!.pages[0]!.sha256));
        expect(JSON.parse(await body!.text())).toEqual([
          { id: "ams", city: "Amsterdam", elevation_m: -3 },
          { id: "ber", city: "Berlin", elevation_m: 34 },
          { id: "lis", city: "Lisbon", elevation_m: 77 },
        ]);
      } finally {
        await store.close();
      }

      // The run's temp dir is gone; the run child has exited (the scheduler reaped it).
      await waitFor("the run to finish", async () => (started.stdout().includes('"run-finished"') ? true : undefined), 10_000);
      expect(await readdir(tempRoot)).toEqual([]);
      const runPids = [...started.stdout().matchAll(/"event":"run-started".*?"pid":(\d+)/g)].map((m) => Number(m[1]));
      expect(runPids.length).toBeGreaterThan(0);
      const descendants = [...runPids, ...descendantsOf(child.pid!)];

      child.kill("SIGTERM");
      const [code, signal] = await started.exit;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      for (const pid of descendants) expect(isAlive(pid)).toBe(false);
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

      const output = started.stdout() + started.stderr();
      expect(output).toMatch(/"event":"scheduler-stopped"/);
      for (const secret of [TOKEN, S3_TEST_CREDENTIALS.secretAccessKey]) expect(output).not.toContain(secret);
      expect(output).toContain("[redacted]");
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await started.exit;
      }
    }
  });

  it.each(["EDGESNAP_S3_BUCKET", "EDGESNAP_S3_SECRET_ACCESS_KEY", "EDGESNAP_TOKEN"])(
    "stops at once with exit code 2 and one line naming %s when it is unset with the S3 store",
    async (variable) => {
      const port = await freePort();
      const env: Record<string, string> = { ...s3Env(), EDGESNAP_METRICS_PORT: String(port), EDGESNAP_TEMP_ROOT: path.join(work, "unused") };
      delete env[variable];
      const startedAt = Date.now();
      const started = startEntrypoint(env);
      const [code] = await started.exit;
      expect(code).toBe(2);
      // "At once": long before a scheduler could have started (node and the CLI take ~0.3 s here).
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      expect(started.stdout()).toBe("");
      expect(started.stderr()).toBe(`edgesnap: missing setting ${variable} (required when EDGESNAP_STORE=s3)\n`);
      for (const secret of [TOKEN, S3_TEST_CREDENTIALS.secretAccessKey]) expect(started.stderr()).not.toContain(secret);
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    },
  );
});
