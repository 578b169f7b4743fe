/**
 * The scheduler's only listening socket: GET /healthz, /livez and /metrics on a local port, with
 * plain node:http (the scheduler stays small; it serves three tiny routes to probes and Prometheus).
 * /healthz answers 503 while the scheduler is stopping or degraded (every dataset's last run
 * failed): for readiness probes and uptime checks. /livez answers 503 only while it is stopping:
 * for liveness probes, since restarting a scheduler whose sources are down fixes nothing.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface StatusServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Body of /healthz; `ok: false` answers 503 (the scheduler is stopping or degraded). */
  health: () => { ok: boolean } & Record<string, unknown>;
  /** /livez: false answers 503 (the scheduler is stopping). Default: always live. */
  live?: () => boolean;
  /** Prometheus text exposition. */
  metrics: () => Promise<string>;
  onError?: (error: unknown) => void;
}

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts listening and resolves once the port is bound.
 * @throws the listen error (e.g. EADDRINUSE) as it is.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const server = http.createServer(function handleStatusRequest(req, res) {
    const url = new URL(req.url ?? "/", "http://localhost");
    const known = url.pathname === "/healthz" || url.pathname === "/livez" || url.pathname === "/metrics";
    if (!known) return send(res, 404, "application/json", JSON.stringify({ error: { code: "not-found", message: "not found" } }));
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(res, 405, "application/json", JSON.stringify({ error: { code: "method-not-allowed", message: "use GET" } }));
    }
    if (url.pathname === "/livez") {
      const live = options.live?.() ?? true;
      return send(res, live ? 200 : 503, "application/json", JSON.stringify({ ok: live, status: live ? "live" : "stopping" }), req.method === "HEAD");
    }
    if (url.pathname === "/healthz") {
      const health = options.health();
      return send(res, health.ok ? 200 : 503, "application/json", JSON.stringify(health), req.method === "HEAD");
    }
    options.metrics().then(
      (text) => send(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, req.method === "HEAD"),
      (error) => {
        options.onError?.(error);
        send(res, 500, "application/json", JSON.stringify({ error: { code: "internal", message: "metrics failed" } }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => options.onError?.(error));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(headOnly ? undefined : body);
}
