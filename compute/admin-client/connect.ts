/**
 * Where the operator commands find the edge: `--url`/`--token`, else EDGESNAP_EDGE_URL /
 * EDGESNAP_TOKEN, else the local default URL and, for a loopback URL, the token a running
 * `npm start` left beside its local state. Shared by every admin subcommand.
 */
import { readLocalToken } from "../embedded/local-token.ts";
import { EdgesnapError } from "../errors.ts";
import { createAdminClient, type AdminClient } from "./index.ts";

export const DEFAULT_EDGE_URL = "http://127.0.0.1:8787";

/** The citty arguments every admin subcommand takes. */
export const CONNECTION_ARGS = {
  url: { type: "string", description: "Base URL of the Worker (default: EDGESNAP_EDGE_URL or http://127.0.0.1:8787)" },
  token: { type: "string", description: "Admin token (default: EDGESNAP_TOKEN, or the token of a local npm start)" },
  json: { type: "boolean", description: "Print JSON instead of a table", default: false },
} as const;

/**
 * Builds the admin client from flags and environment.
 * @throws {EdgesnapError} "unauthorized" when no token is given anywhere; "config" for a bad URL.
 */
export function connectAdmin(args: { url?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): AdminClient {
  const edgeUrl = args.url || env.EDGESNAP_EDGE_URL || DEFAULT_EDGE_URL;
  const token = args.token || env.EDGESNAP_TOKEN || (isLoopback(edgeUrl) ? readLocalToken(env.EDGESNAP_PERSIST_TO || ".wrangler/state") : undefined);
  if (!token) throw new EdgesnapError("unauthorized", "no admin token: set EDGESNAP_TOKEN or pass --token");
  return createAdminClient({ edgeUrl, token });
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "[::1]" || /^127\./.test(host);
  } catch {
    return false;
  }
}
