/**
 * The edge half of the embedded default: `wrangler dev` (local workerd with KV and R2 on disk) as a
 * child process in its own process group, so stopping it also stops the workerd it spawns.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EdgesnapError } from "../errors.ts";

export interface WranglerDevOptions {
  /** Port to listen on. Default 8787. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  ip?: string;
  /** Like `--persist-to`. Default `.wrangler/state`. */
  persistTo?: string;
  configPath?: string;
  /** Worker variables passed with `--var` (the publish token, for one). */
  vars?: Record<string, string>;
  /** Where wrangler's output goes, one line at a time. Default: stderr with a prefix. */
  onLine?: (line: string) => void;
  /** How long to wait for the Worker to answer /healthz. Default 60 s. */
  readyTimeoutMs?: number;
  /** Aborting stops wrangler, also while waiting for it to become ready. */
  signal?: AbortSignal;
}

export interface WranglerDev {
  url: string;
  pid: number;
  /** Stops wrangler and workerd: SIGTERM to the group, SIGKILL after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

function wranglerBin(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
}

/**
 * Starts `wrangler dev` and resolves once the Worker answers `GET /healthz`.
 * @throws {EdgesnapError} code "edge" when wrangler exits early or is not ready in time.
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const port = options.port ?? 8787;
  const ip = options.ip ?? "127.0.0.1";
  const url = `http://${ip}:${port}`;
  const args = [
    wranglerBin(),
    "dev",
    "--config", options.configPath ?? "wrangler.toml",
    "--ip", ip,
    "--port", String(port),
    "--inspector-port", "0",
    "--persist-to", options.persistTo ?? ".wrangler/state",
    "--show-interactive-dev-session=false",
    "--log-level", "info",
  ];
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);

  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const onLine = options.onLine ?? ((line: string) => process.stderr.write(`[wrangler] ${line}\n`));
  pipeLines(child, onLine);

  let exited: string | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = signal ?? `code ${code}`;
      resolve();
    });
  });
  const stop = makeStop(child, exitPromise);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (options.signal?.aborted) {
      await stop();
      throw new EdgesnapError("edge", "stopped while wrangler dev was starting");
    }
    if (exited) throw new EdgesnapError("edge", `wrangler dev exited before it was ready (${exited})`);
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return { url, pid: child.pid!, stop };
    } catch {
      // Not listening yet.
    }
    await sleep(250);
  }
  await stop();
  throw new EdgesnapError("edge", `wrangler dev did not answer ${url}/healthz within ${options.readyTimeoutMs ?? 60_000} ms`);
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

function makeStop(child: ChildProcess, exited: Promise<void>): (graceMs?: number) => Promise<void> {
  let stopping: Promise<void> | null = null;
  return (graceMs = 5_000) => {
    stopping ??= (async () => {
      signalGroup(child, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      // wrangler may exit before workerd does; make sure nothing of the group outlives it.
      signalGroup(child, "SIGKILL");
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
