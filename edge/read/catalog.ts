/**
 * The catalog (`GET /v1/datasets`): the stored catalog object (rebuilt after every manifest change,
 * every reported run and by the cron), or, before the first one is stored, built from the
 * manifests; each entry's freshness (`age_seconds`, `stale`) is computed when the answer is made.
 */
import { CATALOG_OBJECT_KEY } from "../../contract/keys.ts";
import { buildCatalogEntries, parseCatalogText, publicCatalogEntries } from "../../contract/protocol/catalog.ts";
import { sha256Of } from "../../contract/storage.ts";
import type { CatalogEntry, PublicCatalogEntry } from "../../contract/manifest.ts";
import type { AppContext } from "../env.ts";
import { freshnessSeconds, notModifiedResponse, representationHeaders } from "../http/cache-headers.ts";
import { isNotModified } from "../http/conditional.ts";

async function storedCatalog(c: AppContext): Promise<{ entries: CatalogEntry[]; text: string; lastModified: Date }> {
  const stored = await c.var.store.get(CATALOG_OBJECT_KEY);
  if (stored !== null) {
    const text = await stored.text();
    const entries = parseCatalogText(text);
    if (entries !== null) return { entries, text, lastModified: stored.uploaded };
  }
  const { entries, newest } = await buildCatalogEntries(c.var.store);
  return { entries, text: JSON.stringify(entries), lastModified: new Date(newest) };
}

/**
 * The catalog's entity tag: weak (RFC 9110 §8.8.1), naming the stored catalog and which datasets are
 * stale, not the ages, which change every second without changing what a client needs.
 */
export async function catalogEtag(storedText: string, served: readonly PublicCatalogEntry[]): Promise<string> {
  const staleNames = served.filter((entry) => entry.stale).map((entry) => entry.name);
  return `W/"${(await sha256Of(`${storedText}\n${staleNames.join(",")}`)).slice(0, 32)}"`;
}

/** Serves the catalog, each entry's freshness as of `now`. */
export async function serveCatalog(c: AppContext, now = new Date()): Promise<Response> {
  const { entries, text, lastModified } = await storedCatalog(c);
  const served = publicCatalogEntries(entries, now);
  const etag = await catalogEtag(text, served);
  const bytes = new TextEncoder().encode(JSON.stringify({ datasets: served }));
  const headers = representationHeaders({ kind: "catalog", etag, lastModified, contentLength: bytes.byteLength, freshness: freshnessSeconds(c.env) });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  return new Response(c.req.method === "HEAD" ? null : bytes, { headers });
}
