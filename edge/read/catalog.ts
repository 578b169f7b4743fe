/**
 * The catalog (`GET /v1/datasets`): the stored catalog object (rebuilt after every manifest change
 * and by the cron), or, before the first one is stored, built from the manifests.
 */
import { CATALOG_OBJECT_KEY } from "../../contract/keys.ts";
import { catalogEntry, catalogText, readAllManifests } from "../../contract/protocol/catalog.ts";
import { sha256Of } from "../../contract/storage.ts";
import type { CatalogEntry } from "../../contract/manifest.ts";
import type { AppContext } from "../env.ts";
import { notModifiedResponse, representationHeaders } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";

async function catalogDocument(c: AppContext): Promise<{ text: string; lastModified: Date }> {
  const stored = await c.var.store.get(CATALOG_OBJECT_KEY);
  if (stored !== null) return { text: await stored.text(), lastModified: stored.uploaded };
  const { manifests } = await readAllManifests(c.var.store);
  const entries = manifests.map(catalogEntry).filter((e): e is CatalogEntry => e !== null);
  const newest = manifests.reduce((time, m) => Math.max(time, Date.parse(m.updated_at)), 0);
  return { text: catalogText(entries), lastModified: new Date(newest) };
}

/** Serves the catalog with an ETag of its bytes. */
export async function serveCatalog(c: AppContext): Promise<Response> {
  const { text, lastModified } = await catalogDocument(c);
  const bytes = new TextEncoder().encode(text);
  const etag = strongEtag(await sha256Of(bytes));
  const headers = representationHeaders({ kind: "catalog", etag, lastModified, contentLength: bytes.byteLength });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  return new Response(c.req.method === "HEAD" ? null : bytes, { headers });
}
