/**
 * What the watchdog sends to the alert webhook and what it logs about it, inside workerd: Slack's
 * markup characters are escaped in `text` (the status page stays the one link), and no message
 * that reaches a log or the delivery report holds the webhook's address. The real receiver, its
 * redirect and wrangler's own output are tested in Node: test/freshness/webhook-secrecy.test.ts.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Alert } from "../../contract/index.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import { deliverAlerts, escapeSlackText, postAlert, redactWebhook, webhookPayload } from "../../edge/watchdog/deliver.ts";
import { onRunReported } from "../../edge/watchdog/index.ts";
import { BASE, runRecord, uniqueDataset } from "./publish-fixture.ts";

const WEBHOOK = "https://hooks.slack.example/services/T0SECRET/B0SECRET/credential-9f8e7d";

function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: "1-run-failed-x",
    dataset: "x",
    kind: "run-failed",
    recovered: null,
    message: "x: run failed: <!channel> & <https://evil.example|click>",
    time: new Date().toISOString(),
    status_url: "https://data.example/admin#ds-x",
    text: "unused",
    ...overrides,
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("webhook payload", () => {
  it("escapes &, < and > in text, keeps the status page as the one link, and leaves the other fields as they are", () => {
    const payload = webhookPayload(alert());
    expect(payload.text).toBe("edgesnap run-failed: x: run failed: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; <https://data.example/admin#ds-x|status page>");
    expect(payload.message).toBe(alert().message);
    expect(payload.status_url).toBe(alert().status_url);
    expect(webhookPayload(alert({ kind: "recovered", recovered: "stale", message: "a > b", status_url: null })).text).toBe("edgesnap recovered (stale): a &gt; b");
    expect(escapeSlackText("&lt;")).toBe("&amp;lt;");
  });
});

describe("webhook secrecy", () => {
  it("redacts the address, its host and path, and any other URL from a message", () => {
    const message = `fetch failed for ${WEBHOOK}: redirected to http://10.0.0.1:8080/x?y=1 via hooks.slack.example (path /services/T0SECRET/B0SECRET/credential-9f8e7d)`;
    const redacted = redactWebhook(message, WEBHOOK);
    for (const secret of ["credential-9f8e7d", "hooks.slack.example", "10.0.0.1", "/services/"]) expect(redacted).not.toContain(secret);
    expect(redacted).toBe("fetch failed for [webhook]: redirected to [webhook] via [webhook] (path [webhook])");
  });

  it("logs and reports a failed delivery without the address, even when the error quotes it", async () => {
    const lines: string[] = [];
    for (const level of ["error", "warn", "log"] as const) vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const store = openR2Store(env);
    const dataset = uniqueDataset("secret-hook");
    const post = async (url: string) => {
      throw new Error(`connection to ${url} refused`);
    };
    await onRunReported(store, { EDGESNAP_ALERT_WEBHOOK: WEBHOOK }, runRecord(dataset, { outcome: "failed" }), `${BASE}/r`, { post });
    const report = await deliverAlerts(store, WEBHOOK, { post, now: new Date(Date.now() + 24 * 3600_000) });
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]!.error).toBe("connection to [webhook] refused");
    expect(lines.some((line) => line.includes("alert delivery failed"))).toBe(true);
    for (const line of lines) expect(line).not.toContain("credential-9f8e7d");
  });

  it("names no address when the webhook cannot be reached at all", async () => {
    const unreachable = "http://127.0.0.1:1/services/T0/B0/credential-unreachable";
    const error = await postAlert(unreachable, alert(), { attempts: 1 }).then(() => null, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/^webhook unreachable/);
    expect(error?.message).not.toContain("credential-unreachable");
    expect(error?.message).not.toContain("127.0.0.1:1");
  });
});
