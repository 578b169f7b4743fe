/**
 * A version's index: everything about one version except the dataset-level facts in the head
 * (contract/head.ts): its columns, its pages in order, its item index and its other formats. One
 * immutable object per version (`versionIndexKey`), written before the head names the version, so
 * the edge and KV may cache it forever and an edge-cache miss reads the small head plus, usually
 * from a cache, this.
 *
 * Pages are content-addressed (`pageObjectKey(dataset, sha256)`) and shared between versions; a
 * version's full body is its pages joined (`bodySegments`), byte for byte one JSON array. Versions
 * published before schema 3 keep their objects in their own folder (`layout: "legacy"`); their
 * index is made from the schema-2 manifest (`legacyIndex`) and written as an object when the
 * store upgrades.
 */
import { z } from "zod";
import {
  deflatePieceObjectKey,
  formatObjectKey,
  itemShardObjectKey,
  keyChangesKey,
  legacyPageObjectKey,
  legacyShardObjectKey,
  ndjsonPageObjectKey,
  pageObjectKey,
  versionIndexKey,
} from "./keys.ts";
import { ColumnSchema, FORMATS, type Column, type Format, type VersionInfo } from "./manifest.ts";
import { DATASET_NAME_PATTERN, VERSION_ID_PATTERN } from "./names.ts";

/** 3: content-addressed pages, an item index into them, one index object per version. */
export const INDEX_SCHEMA_VERSION = 3;

export const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);

/** One page of a version, in row order. */
export interface Page {
  /** Index of the page's first row in the version, from 0. */
  first_row: number;
  rows: number;
  /** Size of the page object (a JSON array) in bytes. */
  bytes: number;
  /** sha256 of the page object: its ETag, and its name in storage. */
  sha256: string;
}

/** Stored as `[sha256, rows, bytes]`: a 30M-row version has ~700 pages, and the index stays small. */
const PageTupleSchema = z.tuple([SHA256, z.number().int().nonnegative(), z.number().int().positive()]);

function pagesOf(tuples: readonly z.infer<typeof PageTupleSchema>[]): Page[] {
  let first = 0;
  return tuples.map(([sha256, rows, bytes]) => {
    const page = { first_row: first, rows, bytes, sha256 };
    first += rows;
    return page;
  });
}

/**
 * The item index of a keyed version. `shards` are the base: lines `key\tpage\toffset\tlength` where
 * `page` is an ordinal of the version that built the base, mapped to this version's pages by
 * `base_map` (-1: that page is gone, and so are its keys). `delta` holds the keys of this version's
 * pages that the base does not cover, with this version's own page ordinals; it is looked up first.
 * Both are sharded by `shardOf(key, count)` and content-addressed (`itemShardObjectKey`).
 */
export const ItemIndexSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("index"),
    shards: z.array(SHA256).min(1),
    base_map: z.array(z.number().int().min(-1)),
    delta: z.array(SHA256),
  }),
  /** Schema 2: `shards` record shards in the version's folder, each line `key\trecord`. */
  z.object({ kind: z.literal("record-shards"), shards: z.number().int().positive() }),
]);
export type ItemIndex = z.infer<typeof ItemIndexSchema>;

/** One page's compressed NDJSON: `[sha256 of the piece, its bytes, CRC-32 of the page's NDJSON]`. */
const PieceTupleSchema = z.tuple([SHA256, z.number().int().positive(), z.number().int().nonnegative()]);

export const IndexFormatSchema = z.object({
  bytes: z.number().int().nonnegative(),
  sha256: SHA256,
  /** NDJSON stored as one object per page (`ndjsonPageObjectKey`), shared like the pages. */
  paged: z.boolean().default(false),
  /**
   * The gzip copy served to clients that accept it: CSV's one object (`sha256` of it), or paged
   * NDJSON's pieces, one per non-empty page (`deflatePieceObjectKey`), stitched by the Worker.
   * `bytes` is the gzip stream's length.
   */
  gzip: z.object({ bytes: z.number().int().positive(), sha256: SHA256.optional(), pieces: z.array(PieceTupleSchema).optional() }).optional(),
});
export type IndexFormat = z.infer<typeof IndexFormatSchema>;

export const KeyChangeCountsSchema = z.object({
  added: z.number().int().nonnegative(),
  changed: z.number().int().nonnegative(),
  removed: z.number().int().nonnegative(),
  /** Whether `keyChangesKey` lists the keys (false: too many to list; clients fetch the pages). */
  listed: z.boolean(),
});
export type KeyChangeCounts = z.infer<typeof KeyChangeCountsSchema>;

export const VersionIndexSchema = z.object({
  schema: z.literal(INDEX_SCHEMA_VERSION),
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  version: z.string().regex(VERSION_ID_PATTERN),
  /** sha256 of the full body: its ETag. */
  hash: SHA256,
  generated_at: z.iso.datetime(),
  rows: z.number().int().nonnegative(),
  /** Size of the full body. */
  bytes: z.number().int().nonnegative(),
  columns: z.array(ColumnSchema),
  /** The key column of a keyed version, null otherwise. */
  key: z.string().nullable(),
  run_id: z.string().optional(),
  /** "content": pages by hash, shared; "legacy": a schema-2 version's own folder. */
  layout: z.enum(["content", "legacy"]),
  /** The pages in row order; at least one (an empty version has one page `[]`). */
  pages: z.array(PageTupleSchema).min(1).transform(pagesOf),
  items: ItemIndexSchema.nullable(),
  formats: z.partialRecord(z.enum(FORMATS), IndexFormatSchema).default({}),
  /** The version that was current when this one was published: its key changes are against it. */
  previous: z.string().regex(VERSION_ID_PATTERN).nullable(),
  key_changes: KeyChangeCountsSchema.nullable(),
});
export type VersionIndex = z.output<typeof VersionIndexSchema>;

/**
 * Parses and validates an index from its JSON text.
 * @throws {Error} naming the first invalid field (or saying the text is not JSON)
 */
export function parseVersionIndex(text: string): VersionIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("invalid version index: not JSON");
  }
  const result = VersionIndexSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`invalid version index: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  return result.data;
}

/** The stored text of an index (pages as tuples). Pure. */
export function versionIndexText(index: VersionIndex): string {
  return JSON.stringify({ ...index, pages: index.pages.map((page) => [page.sha256, page.rows, page.bytes]) });
}

/** The index of a version a schema-2 manifest describes: its objects stay in its own folder. Pure. */
export function legacyIndex(dataset: string, info: VersionInfo): VersionIndex {
  return {
    schema: INDEX_SCHEMA_VERSION,
    dataset,
    version: info.version,
    hash: info.hash,
    generated_at: info.generated_at,
    rows: info.rows,
    bytes: info.bytes,
    columns: info.columns,
    key: info.key,
    ...(info.run_id ? { run_id: info.run_id } : {}),
    layout: "legacy",
    pages: info.pages,
    items: info.key !== null && info.shards > 0 ? { kind: "record-shards", shards: info.shards } : null,
    formats: Object.fromEntries(Object.entries(info.formats).map(([format, object]) => [format, { ...object, paged: false }])),
    previous: null,
    key_changes: null,
  };
}

/** The storage key of page `n` (from 0) of a version. */
export function pageKeyOf(index: VersionIndex, n: number): string {
  const page = index.pages[n]!;
  return index.layout === "legacy" ? legacyPageObjectKey(index.dataset, index.version, n + 1) : pageObjectKey(index.dataset, page.sha256);
}

/** Where a format's bytes are: one object, or (paged NDJSON) one object per page in order. */
export function formatKeysOf(index: VersionIndex, format: Format): string[] {
  const stored = index.formats[format];
  if (stored === undefined) return [];
  if (format === "ndjson" && stored.paged) return index.pages.filter((page) => page.rows > 0).map((page) => ndjsonPageObjectKey(index.dataset, page.sha256));
  return [formatObjectKey(index.dataset, index.version, format)];
}

/** Where a format's gzip copy is: its one object, or (paged NDJSON) its pieces in order. */
export function gzipKeysOf(index: VersionIndex, format: Format): string[] {
  const gzip = index.formats[format]?.gzip;
  if (gzip === undefined) return [];
  if (gzip.pieces !== undefined) return gzip.pieces.map(([sha]) => deflatePieceObjectKey(index.dataset, sha));
  return [formatObjectKey(index.dataset, index.version, `${format}.gz`)];
}

/** The bytes of a page's NDJSON object: the page's rows, each followed by "\n" (an empty page: none). */
export function ndjsonPageBytes(page: Page): number {
  return page.rows === 0 ? 0 : page.bytes - 1;
}

/**
 * Every object the version references, its index included: what a prune must keep while the
 * version is retained. Pure.
 */
export function objectKeysOf(index: VersionIndex): string[] {
  const keys = [versionIndexKey(index.dataset, index.version)];
  index.pages.forEach((_, n) => keys.push(pageKeyOf(index, n)));
  for (const format of FORMATS) keys.push(...formatKeysOf(index, format), ...gzipKeysOf(index, format));
  if (index.items?.kind === "index") {
    for (const sha of [...index.items.shards, ...index.items.delta]) keys.push(itemShardObjectKey(index.dataset, sha));
  } else if (index.items?.kind === "record-shards") {
    for (let shard = 0; shard < index.items.shards; shard++) keys.push(legacyShardObjectKey(index.dataset, index.version, shard));
  }
  if (index.key_changes !== null) keys.push(keyChangesKey(index.dataset, index.version));
  return [...new Set(keys)];
}

/**
 * How the full body is made of the stored pages: page i's bytes from `offset` for `length` bytes,
 * preceded by `before`. Page objects are JSON arrays (`[r1,r2]`); the body drops the closing
 * bracket of every page but the last and the opening bracket of every page but the first, and puts
 * a comma between them, so the body is one JSON array with exactly the rows' bytes. Pure.
 */
export function bodySegments(pages: readonly Page[]): { page: number; before: string; offset: number; length: number }[] {
  const last = pages.length - 1;
  return pages.map((page, index) => {
    const offset = index === 0 ? 0 : 1;
    const end = index === last ? page.bytes : page.bytes - 1;
    // An empty page (`[]`) in the middle of a version cannot exist: only an empty version has one.
    return { page: index, before: index === 0 ? "" : ",", offset, length: end - offset };
  });
}

/** What a version's row schema and documents need of it. */
export type VersionColumns = Pick<VersionIndex, "version" | "columns" | "key">;

export type { Column };
