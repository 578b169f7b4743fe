/**
 * The catalog (`GET /v1/datasets`): one entry per dataset with a current version. Built from the
 * R2 manifests by reconcile and the publish notice and kept in KV, so the public route reads one
 * KV value; built from R2 directly when KV has none yet.
 */
import {
  CATALOG_KV_KEY,
  currentVersion,
  DATASETS_PREFIX,
  type CatalogEntry,
  type SnapshotManifest,
} from "../../contract/index.ts";
import { readManifestFromR2 } from "./read.ts";

/** The catalog document as served, plus what the route needs for its headers. */
export interface CatalogDocument {
  text: string;
  /** sha256 hex of `text`. */
  hash: string;
  /** The newest `updated_at` among the manifests (epoch when there are none). */
  lastModified: string;
}

/** KV metadata stored beside the catalog text (KV metadata is limited to 1 KiB). */
export interface CatalogMetadata {
  hash: string;
  lastModified: string;
}

/** Builds the sorted catalog entries from manifests. Pure. */
export function catalogEntries(manifests: readonly SnapshotManifest[]): CatalogEntry[] {
  const entries: CatalogEntry[] = [];
  for (const manifest of manifests) {
    const info = currentVersion(manifest);
    if (info === undefined) continue;
    entries.push({
      name: manifest.dataset,
      version: info.version,
      generated_at: info.generated_at,
      rows: info.rows,
      bytes: info.bytes,
      key: info.key,
      url: `/v1/datasets/${manifest.dataset}`,
    });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Serializes a catalog from manifests into the served document. */
export async function catalogDocument(manifests: readonly SnapshotManifest[]): Promise<CatalogDocument> {
  const text = JSON.stringify({ datasets: catalogEntries(manifests) });
  const lastModified = manifests.reduce((newest, m) => (m.updated_at > newest ? m.updated_at : newest), new Date(0).toISOString());
  return { text, hash: await sha256Hex(text), lastModified };
}

/**
 * Lists every dataset that has a folder in R2 (list with delimiter "/", following the cursor).
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#r2listoptions
 */
export async function listDatasetNames(env: Env): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.SNAPSHOTS.list({ prefix: DATASETS_PREFIX, delimiter: "/", cursor });
    for (const prefix of page.delimitedPrefixes) names.push(prefix.slice(DATASETS_PREFIX.length).replace(/\/$/, ""));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return names;
}

/** Reads every dataset's manifest from R2 (datasets without a valid manifest are skipped and logged). */
export async function readAllManifestsFromR2(env: Env): Promise<SnapshotManifest[]> {
  const names = await listDatasetNames(env);
  const manifests = await Promise.all(
    names.map(async (name) => {
      try {
        return await readManifestFromR2(env, name);
      } catch (error) {
        console.warn(JSON.stringify({ level: "warn", msg: "skipping dataset with invalid manifest", dataset: name, error: String(error) }));
        return null;
      }
    }),
  );
  return manifests.filter((m): m is SnapshotManifest => m !== null);
}

/** Reads the catalog: the KV copy, else built from R2. */
export async function readCatalog(env: Env): Promise<CatalogDocument> {
  const cached = await env.SNAPSHOT_KV.getWithMetadata<CatalogMetadata>(CATALOG_KV_KEY, "text");
  if (cached.value !== null && cached.metadata !== null) {
    return { text: cached.value, hash: cached.metadata.hash, lastModified: cached.metadata.lastModified };
  }
  return catalogDocument(await readAllManifestsFromR2(env));
}

/** Writes the catalog to KV unless KV already holds the same document (saves a KV write). */
export async function storeCatalog(env: Env, doc: CatalogDocument): Promise<boolean> {
  const existing = await env.SNAPSHOT_KV.getWithMetadata<CatalogMetadata>(CATALOG_KV_KEY, "text");
  if (existing.metadata?.hash === doc.hash) return false;
  const metadata: CatalogMetadata = { hash: doc.hash, lastModified: doc.lastModified };
  await env.SNAPSHOT_KV.put(CATALOG_KV_KEY, doc.text, { metadata });
  return true;
}
