/**
 * The edge half of the embedded default: `wrangler dev` (local workerd with KV and R2 on disk).
 *
 * - It runs under a watchdog (watchdog.ts) that leads its own process group: stopping signals the
 *   whole group (wrangler, its workerd processes, esbuild), and if this process dies, even by
 *   SIGKILL, the watchdog's lifeline pipe closes and it kills the group. Nothing outlives us.
 * - Secrets (the admin token) reach the Worker through an env file only this user can read
 *   (`--env-file`), never through the command line, which every user of the machine can see in
 *   `ps`. It also takes precedence over a developer's `.dev.vars`.
 * - It refuses a port that is taken, and it is ready only when the Worker answering is ours: with
 *   an admin token, an authenticated call must succeed, so a leftover wrangler on the port (whose
 *   /healthz answers 200 just the same) is never mistaken for the one started here.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_EDGE_PORT, DEFAULT_PERSIST_TO, DEFAULT_WRANGLER_CONFIG, inheritedEnv } from "../config.ts";
import { EdgesnapError } from "../errors.ts";
import { writePrivateFile } from "./private-file.ts";

export interface WranglerDevOptions {
  /** Port to listen on. Default 8787. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  ip?: string;
  /** Like `--persist-to`. Default `.wrangler/state`. The secrets file is written here too. */
  persistTo?: string;
  configPath?: string;
  /** Worker secrets (the admin token, for one): handed over in a private env file. */
  secrets?: Record<string, string>;
  /**
   * The Worker's admin token. When set, readiness also needs an authenticated admin call to
   * succeed, which proves that the Worker answering is the one started here.
   */
  adminToken?: string;
  /** Where wrangler's output goes, one line at a time. Default: stderr with a prefix. */
  onLine?: (line: string) => void;
  /** How long to wait for the Worker to answer /healthz. Default 60 s. */
  readyTimeoutMs?: number;
  /** Aborting stops wrangler, also while waiting for it to become ready. */
  signal?: AbortSignal;
}

export interface WranglerDev {
  url: string;
  /** The watchdog's pid, which is also the process group of wrangler and its workerd. */
  pid: number;
  /** Resolves with how wrangler ended ("code 0", "SIGTERM") when it exits, for whatever reason. */
  exited: Promise<string>;
  /** Stops wrangler and workerd: SIGTERM to the group, SIGKILL after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/** The env file wrangler dev reads the Worker's secrets from, beside the local state. */
export const SECRETS_FILE = "edgesnap-dev-secrets.env";

function wranglerBin(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
}

const WATCHDOG = path.join(import.meta.dirname, "watchdog.ts");

/**
 * One `KEY='value'` line of a dotenv file. Single quotes keep the value literal for dotenv; `$` is
 * escaped because wrangler expands `$NAME` in every value (dotenv-expand) and unescapes `\$`.
 */
function envLine(name: string, value: string): string {
  if (/['\r\n]/.test(value)) throw new EdgesnapError("config", `${name} must not contain quotes or line breaks to be handed to wrangler dev`);
  return `${name}='${value.replaceAll("$", "\\$")}'\n`;
}

/**
 * Resolves when nothing listens on ip:port.
 * @throws {EdgesnapError} "config" naming the port when something does
 */
export async function assertPortFree(ip: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new EdgesnapError("config", `port ${port} on ${ip} is already in use (another edgesnap start or wrangler dev?); stop it or pass --port`)
          : new EdgesnapError("config", `cannot listen on ${ip}:${port}: ${error.message}`),
      );
    });
    server.listen({ host: ip, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/**
 * Starts `wrangler dev` and resolves once the Worker answers `GET /healthz` (and, with
 * `adminToken`, accepts that token).
 * @throws {EdgesnapError} "config" when the port is taken; "edge" when wrangler exits early, is not
 *   ready in time, or another Worker answers on the port.
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const port = options.port ?? DEFAULT_EDGE_PORT;
  const ip = options.ip ?? "127.0.0.1";
  const url = `http://${ip}:${port}`;
  const persistTo = options.persistTo ?? DEFAULT_PERSIST_TO;
  await assertPortFree(ip, port);
  const args = [
    wranglerBin(),
    "dev",
    "--config", options.configPath ?? DEFAULT_WRANGLER_CONFIG,
    "--ip", ip,
    "--port", String(port),
    "--inspector-port", "0",
    "--persist-to", persistTo,
    "--show-interactive-dev-session=false",
    "--log-level", "info",
  ];
  let secretsFile: string | null = null;
  if (options.secrets && Object.keys(options.secrets).length > 0) {
    secretsFile = path.resolve(persistTo, SECRETS_FILE);
    await writePrivateFile(secretsFile, Object.entries(options.secrets).map(([name, value]) => envLine(name, value)).join(""));
    args.push("--env-file", secretsFile);
  }

  // wrangler needs none of our secrets in its environment (nor do the processes it starts).
  const env = inheritedEnv({ withoutSecrets: true });
  const child = spawn(process.execPath, [WATCHDOG, process.execPath, ...args], {
    detached: true,
    // stdin is the watchdog's lifeline: it closes when this process dies.
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const onLine = options.onLine ?? ((line: string) => process.stderr.write(`[wrangler] ${line}\n`));
  pipeLines(child, onLine);

  let exitedHow: string | null = null;
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      exitedHow = signal ?? `code ${code}`;
      resolve(exitedHow);
    });
  });
  const stop = makeStop(child, exited, secretsFile);
  try {
    await waitForWorker(url, { adminToken: options.adminToken, timeoutMs: options.readyTimeoutMs, signal: options.signal, exited: () => exitedHow });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid!, exited, stop };
}

/**
 * Waits until the Worker at `url` answers `GET /healthz` and, with `adminToken`, accepts that token
 * on an admin call: a Worker that answers but refuses it is someone else's.
 * @throws {EdgesnapError} "edge" when another Worker answers, `exited` reports an exit, `signal`
 *   aborts, or nothing is ready within `timeoutMs` (default 60 s)
 */
export async function waitForWorker(
  url: string,
  options: { adminToken?: string; timeoutMs?: number; signal?: AbortSignal; exited?: () => string | null } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (options.signal?.aborted) throw new EdgesnapError("edge", "stopped while wrangler dev was starting");
    const how = options.exited?.();
    if (how) throw new EdgesnapError("edge", `wrangler dev exited before it was ready (${how})`);
    try {
      const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await health.body?.cancel();
      if (health.ok && !options.adminToken) return;
      if (health.ok) {
        const admin = await fetch(`${url}/admin/v1/datasets`, {
          headers: { authorization: `Bearer ${options.adminToken}` },
          signal: AbortSignal.timeout(5_000),
        });
        await admin.body?.cancel();
        if (admin.ok) return;
        if (admin.status === 401 || admin.status === 403) {
          throw new EdgesnapError("edge", `another Worker answers on ${url} (it refused this start's token); stop it or pass --port`);
        }
      }
    } catch (error) {
      if (error instanceof EdgesnapError) throw error;
      // Not listening yet.
    }
    await sleep(250);
  }
  throw new EdgesnapError("edge", `wrangler dev did not answer ${url}/healthz within ${timeoutMs} ms`);
}

function pipeLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let pending = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) onLine(line);
    });
  }
}

function makeStop(child: ChildProcess, exited: Promise<unknown>, secretsFile: string | null): (graceMs?: number) => Promise<void> {
  let stopping: Promise<void> | null = null;
  return (graceMs = 5_000) => {
    stopping ??= (async () => {
      signalGroup(child, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      // The watchdog kills what wrangler left; this is for a watchdog that was killed itself.
      signalGroup(child, "SIGKILL");
      child.stdin?.destroy();
      if (secretsFile) rmSync(secretsFile, { force: true });
    })();
    return stopping;
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}
