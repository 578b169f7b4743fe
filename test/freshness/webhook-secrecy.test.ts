/**
 * The alert webhook's address is a secret (a Slack incoming webhook's path is its credential), in
 * Node against a real `wrangler dev` whose EDGESNAP_ALERT_WEBHOOK points at a real local receiver
 * that redirects to another host: the Worker posts once, never follows the redirect (no request
 * reaches the target), gives the alert up with a line naming the
 * fix, and neither wrangler's output nor its log file ever contains the address, its path or the
 * redirect's target. The receiver sees Slack's markup characters escaped in `text`.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeRunId, type Alert, type RunRecord } from "../../contract/index.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { freePort, waitFor } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "webhook-secrecy-token-0f3e9a4b7c2d81e6a5f4b3c2d1e0f9a8";
const HOOK_PATH = "/services/T0SECRET/B0SECRET/hook-credential-7d1f2a";
const TARGET_PATH = "/elsewhere/redirect-target-3a9c";

interface Hit {
  path: string;
  body: string;
}

/** An HTTP server on 127.0.0.1 that records each request and answers with `answer`. */
async function startServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ port: number; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      hits.push({ path: req.url ?? "", body });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function failedRun(dataset: string, reason: string): RunRecord {
  const now = new Date();
  return {
    id: makeRunId(now, "0badc0de"),
    dataset,
    trigger: "schedule",
    request_id: null,
    request_ids: [],
    started_at: now.toISOString(),
    finished_at: now.toISOString(),
    outcome: "failed",
    reason,
    duration_ms: 10,
    peak_rss_bytes: null,
    rows: null,
    bytes: null,
    version: null,
    attempt: 1,
    will_retry: false,
  };
}

describe("the alert webhook, against wrangler dev and a redirecting receiver", () => {
  let work: string;
  let logDir: string;
  let edge: WranglerDev;
  let target: Awaited<ReturnType<typeof startServer>>;
  let hook: Awaited<ReturnType<typeof startServer>>;
  const output: string[] = [];
  let savedLogPath: string | undefined;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-webhook-"));
    logDir = path.join(work, "wrangler-logs");
    target = await startServer((_req, res) => res.writeHead(200).end("ok"));
    // To another host name (and port): what a redirect to a stranger's server looks like.
    hook = await startServer((_req, res) => res.writeHead(307, { Location: `http://localhost:${target.port}${TARGET_PATH}` }).end());
    // wrangler writes a debug log file under WRANGLER_LOG_PATH: it must not hold the address either.
    savedLogPath = process.env.WRANGLER_LOG_PATH;
    process.env.WRANGLER_LOG_PATH = logDir;
    edge = await startWranglerDev({
      port: await freePort(),
      persistTo: path.join(work, "state"),
      configPath: path.join(REPO_ROOT, "wrangler.toml"),
      secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_ALERT_WEBHOOK: `http://127.0.0.1:${hook.port}${HOOK_PATH}` },
      adminToken: TOKEN,
      onLine: (line) => output.push(line),
    });
  }, 120_000);

  afterAll(async () => {
    if (savedLogPath === undefined) delete process.env.WRANGLER_LOG_PATH;
    else process.env.WRANGLER_LOG_PATH = savedLogPath;
    await edge?.stop();
    await hook?.close();
    await target?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("posts once, follows no redirect, gives the alert up naming the fix, and never logs the address", async () => {
    const dataset = "hooked";
    const reason = "build failed: <!channel> & <https://evil.example|click here>";
    const res = await fetch(`${edge.url}/admin/v1/runs`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(failedRun(dataset, reason)),
    });
    expect(res.status).toBe(201);
    const givenUp = await waitFor("the alert to be given up", async () => output.find((line) => line.includes("alert given up")), 30_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${output.slice(-20).join("\n")}`);
    });
    expect(givenUp).toContain("webhook answered a redirect (307), which is not followed: set EDGESNAP_ALERT_WEBHOOK to the address it redirects to");

    // One POST in all (a redirect is a refusal, not retried), and nothing reached the target.
    expect(hook.hits.map((hit) => hit.path)).toEqual([HOOK_PATH]);
    expect(target.hits).toEqual([]);

    // Slack would read `<!channel>` as a mention and `<url|text>` as a link: both arrive escaped.
    const alert = JSON.parse(hook.hits[0]!.body) as Alert;
    expect(alert.message).toContain(reason);
    expect(alert.text).toContain("build failed: &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;");
    expect(alert.text).not.toContain("<!channel>");

    const logFiles = await readdir(logDir).catch(() => [] as string[]);
    const logs = [output.join("\n"), ...(await Promise.all(logFiles.map((file) => readFile(path.join(logDir, file), "utf8"))))];
    for (const text of logs) {
      for (const secret of [HOOK_PATH, "hook-credential-7d1f2a", `127.0.0.1:${hook.port}`, TARGET_PATH, `:${target.port}`]) {
        expect(text, `a log holds ${secret}`).not.toContain(secret);
      }
    }
  }, 60_000);
});
