/**
 * The public catalog: one entry per dataset with a current version, built from the manifests and
 * stored as one R2 object, so the catalog route reads one object however many datasets there are.
 * A dataset whose manifest cannot be read keeps the entry it had when it last could.
 */
import { CATALOG_OBJECT_KEY, DATASETS_PREFIX } from "../keys.ts";
import { freshnessOf } from "../freshness.ts";
import { CatalogEntrySchema, currentVersion, type CatalogEntry, type PublicCatalogEntry, type SnapshotManifest } from "../manifest.ts";
import { listFolders, type ObjectStore } from "../storage.ts";
import { ProtocolError } from "./errors.ts";
import { readManifest } from "./manifests.ts";

/** The catalog entry of one manifest, or null while it has no current version. Pure. */
export function catalogEntry(manifest: SnapshotManifest): CatalogEntry | null {
  const info = currentVersion(manifest);
  if (info === undefined) return null;
  return {
    name: manifest.dataset,
    version: info.version,
    generated_at: info.generated_at,
    rows: info.rows,
    bytes: info.bytes,
    pages: info.pages.length,
    key: info.key,
    url: `/v1/datasets/${manifest.dataset}`,
    checked_at: manifest.checked_at,
    max_age_seconds: manifest.max_age_seconds,
  };
}

/**
 * The catalog as served at `now`: each stored entry with its freshness computed at read time (the
 * stored object changes only with manifests, the age changes every second). Pure.
 */
export function publicCatalogEntries(entries: readonly CatalogEntry[], now: Date): PublicCatalogEntry[] {
  return [...entries].sort(byName).map((entry) => {
    const { age_seconds, stale } = freshnessOf(entry, now);
    return { ...entry, age_seconds, stale };
  });
}

/**
 * Parses a stored catalog document's entries.
 * @returns null when the text is not a catalog (the caller rebuilds it from the manifests)
 */
export function parseCatalogText(text: string): CatalogEntry[] | null {
  try {
    const parsed = CatalogEntrySchema.array().safeParse((JSON.parse(text) as { datasets?: unknown }).datasets);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function byName(a: CatalogEntry, b: CatalogEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Every dataset's manifest; datasets whose manifest is unreadable are listed apart. */
export async function readAllManifests(store: ObjectStore): Promise<{ manifests: SnapshotManifest[]; unreadable: string[] }> {
  const names = await listFolders(store, DATASETS_PREFIX);
  const manifests: SnapshotManifest[] = [];
  const unreadable: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      try {
        const read = await readManifest(store, name);
        if (read !== null) manifests.push(read.value);
      } catch (error) {
        if (!(error instanceof ProtocolError && error.code === "corrupt")) throw error;
        unreadable.push(name);
      }
    }),
  );
  return { manifests, unreadable };
}

/** The stored catalog's entries, or an empty list when there is none or it is unreadable. */
export async function readCatalogEntries(store: ObjectStore): Promise<CatalogEntry[]> {
  const object = await store.get(CATALOG_OBJECT_KEY);
  if (object === null) return [];
  return parseCatalogText(await object.text()) ?? [];
}

/** The catalog document as served: `{"datasets":[...]}`, sorted by name. Pure. */
export function catalogText(entries: readonly CatalogEntry[]): string {
  return JSON.stringify({ datasets: [...entries].sort(byName) });
}

/**
 * Rebuilds the stored catalog from every manifest. Datasets whose manifest is unreadable keep the
 * entry they had. Writes nothing when the text is unchanged (one write saved per notice and cron).
 * @returns whether the catalog object was written
 */
export async function refreshCatalog(store: ObjectStore): Promise<boolean> {
  const [{ manifests, unreadable }, previous] = await Promise.all([readAllManifests(store), readCatalogEntries(store)]);
  const entries = manifests.map(catalogEntry).filter((e): e is CatalogEntry => e !== null);
  const broken = new Set(unreadable);
  entries.push(...previous.filter((entry) => broken.has(entry.name)));
  const text = catalogText(entries);
  const existing = await store.get(CATALOG_OBJECT_KEY);
  if (existing !== null && (await existing.text()) === text) return false;
  await store.put(CATALOG_OBJECT_KEY, text, { contentType: "application/json" });
  return true;
}
