/**
 * Where every command finds the edge, one rule for all (`start`, `run` and the operator commands):
 * the URL is `--url`, else `--port` (a local Worker: http://127.0.0.1:<port>), else
 * EDGESNAP_EDGE_URL, else http://127.0.0.1:8787; the token is `--token`, else EDGESNAP_TOKEN, else,
 * for a loopback URL, the token a running `npm start` left beside its local state.
 */
import { DEFAULT_EDGE_URL, readEdgeEnv } from "../config.ts";
import { readLocalToken } from "../embedded/local-token.ts";
import { EdgesnapError } from "../errors.ts";
import { createEdgeClient, type EdgeClient } from "./index.ts";

export { DEFAULT_EDGE_URL };

/** The citty arguments that locate the edge, shared by every command that talks to it. */
export const EDGE_ARGS = {
  url: { type: "string", description: "Base URL of the Worker (default: EDGESNAP_EDGE_URL or http://127.0.0.1:8787)" },
  port: { type: "string", description: "Port of a local Worker: short for --url http://127.0.0.1:<port>" },
  token: { type: "string", description: "Admin token (default: EDGESNAP_TOKEN, or the token of a local npm start)" },
} as const;

/** The citty arguments every admin subcommand takes. */
export const CONNECTION_ARGS = {
  ...EDGE_ARGS,
  json: { type: "boolean", description: "Print JSON instead of a table", default: false },
} as const;

export interface EdgeArgs {
  url?: string;
  port?: string;
  token?: string;
}

/**
 * The edge's base URL from `--url`, `--port` and EDGESNAP_EDGE_URL, without a trailing slash.
 * @throws {EdgesnapError} "config" for a malformed URL or port, naming where it came from
 */
export function resolveEdgeUrl(args: EdgeArgs, env?: NodeJS.ProcessEnv): string {
  const configured = readEdgeEnv(env).edgeUrl;
  if (args.url && args.port) throw new EdgesnapError("config", "pass --url or --port, not both");
  let raw: string;
  let source: string;
  if (args.url) [raw, source] = [args.url, "--url"];
  else if (args.port) {
    const port = Number(args.port);
    if (!/^\d+$/.test(args.port) || port < 1 || port > 65535) throw new EdgesnapError("config", `invalid --port ${args.port} (expected 1 to 65535)`);
    [raw, source] = [`http://127.0.0.1:${port}`, "--port"];
  } else if (configured) [raw, source] = [configured, "EDGESNAP_EDGE_URL"];
  else [raw, source] = [DEFAULT_EDGE_URL, "the default"];
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EdgesnapError("config", `invalid ${source === "EDGESNAP_EDGE_URL" ? "setting EDGESNAP_EDGE_URL" : source} (expected an http(s) URL)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EdgesnapError("config", `invalid ${source === "EDGESNAP_EDGE_URL" ? "setting EDGESNAP_EDGE_URL" : source} (expected an http(s) URL)`);
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * The admin token from `--token`, EDGESNAP_TOKEN or, for a loopback URL, the local start's file
 * in `persistTo` (default: EDGESNAP_PERSIST_TO, else .wrangler/state).
 */
export function resolveToken(args: EdgeArgs, edgeUrl: string, env?: NodeJS.ProcessEnv, persistTo?: string): string | undefined {
  const configured = readEdgeEnv(env);
  return args.token || configured.token || (isLoopback(edgeUrl) ? readLocalToken(persistTo ?? configured.persistTo) : undefined);
}

/**
 * Builds the client for an operator command from its flags and the environment.
 * @throws {EdgesnapError} "unauthorized" when no token is given anywhere; "config" for a bad URL.
 */
export function connectEdge(args: EdgeArgs, env?: NodeJS.ProcessEnv): EdgeClient {
  const edgeUrl = resolveEdgeUrl(args, env);
  const token = resolveToken(args, edgeUrl, env);
  if (!token) throw new EdgesnapError("unauthorized", "no admin token: set EDGESNAP_TOKEN or pass --token");
  return createEdgeClient({ edgeUrl, token });
}

/** True for a URL on this machine (localhost, 127.0.0.0/8, [::1]). */
export function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "[::1]" || /^127\./.test(host);
  } catch {
    return false;
  }
}
