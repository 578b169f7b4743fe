/**
 * The public catalog: one entry per dataset with a current version, built from the manifests and
 * stored as one R2 object, so the catalog route reads one object however many datasets there are.
 * A dataset whose manifest cannot be read keeps the entry it had when it last could.
 */
import { CATALOG_OBJECT_KEY, DATASETS_PREFIX } from "../keys.ts";
import { freshnessOf } from "../freshness.ts";
import { currentSummary, type DatasetHead, type HeadState } from "../head.ts";
import { CatalogEntrySchema, type CatalogEntry, type PublicCatalogEntry } from "../manifest.ts";
import { listFolders, type ObjectStore } from "../storage.ts";
import type { VersionIndex } from "../version-index.ts";
import { ProtocolError } from "./errors.ts";
import { readHead, requireIndex } from "./manifests.ts";

/** The catalog entry of a head and its current version's index, or null while it has none. Pure. */
export function catalogEntry(head: DatasetHead, current: VersionIndex | null): CatalogEntry | null {
  const info = currentSummary(head);
  if (info === undefined || current === null) return null;
  return {
    name: head.dataset,
    version: info.version,
    generated_at: info.generated_at,
    rows: info.rows,
    bytes: info.bytes,
    pages: current.pages.length,
    key: current.key,
    url: `/v1/datasets/${head.dataset}`,
    checked_at: head.checked_at,
    max_age_seconds: head.max_age_seconds,
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

/** Every dataset's head; datasets whose head is unreadable are listed apart. */
export async function readAllHeads(store: ObjectStore): Promise<{ heads: HeadState[]; unreadable: string[] }> {
  const names = await listFolders(store, DATASETS_PREFIX);
  const heads: HeadState[] = [];
  const unreadable: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      try {
        const read = await readHead(store, name);
        if (read !== null) heads.push(read.value);
      } catch (error) {
        if (!(error instanceof ProtocolError && error.code === "corrupt")) throw error;
        unreadable.push(name);
      }
    }),
  );
  return { heads: heads.sort((a, b) => (a.head.dataset < b.head.dataset ? -1 : 1)), unreadable };
}

/** A dataset's catalog entry: its head and its current version's index. @throws {ProtocolError} "corrupt" */
async function entryOf(store: ObjectStore, state: HeadState): Promise<CatalogEntry | null> {
  const current = state.head.current;
  return catalogEntry(state.head, current === null ? null : await requireIndex(store, state.head.dataset, current, state));
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
 * Builds the catalog's entries from every head (and its current index). Datasets whose head or
 * current index is unreadable are listed apart.
 */
export async function buildCatalogEntries(store: ObjectStore): Promise<{ entries: CatalogEntry[]; unreadable: string[]; newest: number }> {
  const { heads, unreadable } = await readAllHeads(store);
  const entries: CatalogEntry[] = [];
  for (const state of heads) {
    try {
      const entry = await entryOf(store, state);
      if (entry !== null) entries.push(entry);
    } catch (error) {
      if (!(error instanceof ProtocolError && error.code === "corrupt")) throw error;
      unreadable.push(state.head.dataset);
    }
  }
  const newest = heads.reduce((time, state) => Math.max(time, Date.parse(state.head.updated_at)), 0);
  return { entries, unreadable, newest };
}

/**
 * Rebuilds the stored catalog from every head. Datasets whose head is unreadable keep the entry
 * they had. Writes nothing when the text is unchanged (one write saved per notice and cron).
 * @returns whether the catalog object was written
 */
export async function refreshCatalog(store: ObjectStore): Promise<boolean> {
  const [{ entries, unreadable }, previous] = await Promise.all([buildCatalogEntries(store), readCatalogEntries(store)]);
  const broken = new Set(unreadable);
  entries.push(...previous.filter((entry) => broken.has(entry.name)));
  const text = catalogText(entries);
  const existing = await store.get(CATALOG_OBJECT_KEY);
  if (existing !== null && (await existing.text()) === text) return false;
  await store.put(CATALOG_OBJECT_KEY, text, { contentType: "application/json" });
  return true;
}
