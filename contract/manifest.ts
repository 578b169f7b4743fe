/**
 * The snapshot manifest: one per dataset, in R2, naming the current version and the retained
 * history. The publisher writes it last, by compare-and-swap, so a reader that sees a version in a
 * manifest can rely on all of that version's objects being there already.
 *
 * A version's rows are stored as pages: each page is its own immutable JSON array object holding
 * whole rows, and the full body (one JSON array of every row) is the pages joined (see
 * `bodySegments`), byte for byte what one serializer would have written, so the edge streams a body
 * of any size without parsing or buffering it.
 */
import { z } from "zod";
import { DATASET_NAME_PATTERN, VERSION_ID_PATTERN } from "./names.ts";

/** 2: versions are stored as pages (1 stored one `data.json` body per version). */
export const MANIFEST_SCHEMA_VERSION = 2;

/** How many versions a manifest keeps in its history unless configured otherwise. */
export const DEFAULT_RETAINED_VERSIONS = 20;

/** Target size of one page of JSON; a page never splits a row, so one huge row makes a bigger page. */
export const PAGE_TARGET_BYTES = 4 * 1024 * 1024;

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);

export const ColumnSchema = z.object({
  name: z.string(),
  /** The polars dtype as a string (e.g. "Float64", "String", "Date"). */
  type: z.string(),
  /** Whether any row holds null in this column (NaN and infinities are written as null). */
  nullable: z.boolean().default(true),
});
export type Column = z.infer<typeof ColumnSchema>;

export const PageSchema = z.object({
  /** Index of the page's first row in the version, from 0. */
  first_row: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  /** Size of the page object (a JSON array) in bytes. */
  bytes: z.number().int().positive(),
  /** sha256 of the page object: its ETag. */
  sha256: SHA256,
});
export type Page = z.infer<typeof PageSchema>;

export const FORMATS = ["csv", "ndjson", "parquet"] as const;
export type Format = (typeof FORMATS)[number];

export const FormatObjectSchema = z.object({ bytes: z.number().int().nonnegative(), sha256: SHA256 });
export type FormatObject = z.infer<typeof FormatObjectSchema>;

export const VersionInfoSchema = z.object({
  version: z.string().regex(VERSION_ID_PATTERN),
  /** sha256 of the full body, lowercase hex: the ETag of the body. */
  hash: SHA256,
  /** ISO-8601 UTC time the build finished. */
  generated_at: z.iso.datetime(),
  rows: z.number().int().nonnegative(),
  /** Size of the full body in bytes. */
  bytes: z.number().int().nonnegative(),
  columns: z.array(ColumnSchema),
  /** The key column of a keyed dataset, null otherwise. */
  key: z.string().nullable(),
  /** Number of item shards (0 when not keyed). */
  shards: z.number().int().nonnegative(),
  /** The pages, in row order; at least one (an empty version has one page `[]`). */
  pages: z.array(PageSchema).min(1),
  /** The other formats published beside the JSON pages. */
  formats: z.partialRecord(z.enum(FORMATS), FormatObjectSchema).default({}),
  /** The run that produced this version. */
  run_id: z.string().optional(),
});
export type VersionInfo = z.infer<typeof VersionInfoSchema>;

export const SnapshotManifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA_VERSION),
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  /** The dataset definition's description, for the row schema and the API document. */
  description: z.string().default(""),
  /** The version served at the current URL; null before the first publish. */
  current: z.string().regex(VERSION_ID_PATTERN).nullable(),
  /** While pinned, scheduled runs build and record but do not replace `current`. */
  pinned: z.boolean().default(false),
  /** Retained versions, newest first. `current` is always among them. */
  versions: z.array(VersionInfoSchema),
  /** When a run last confirmed the content (published it, or found it unchanged). */
  checked_at: z.iso.datetime().nullable().default(null),
  /** The dataset's freshness budget: stale when `checked_at` is older than this. */
  max_age_seconds: z.number().int().positive().nullable().default(null),
  updated_at: z.iso.datetime(),
});
export type SnapshotManifest = z.infer<typeof SnapshotManifestSchema>;

/** The version info of the current version, or undefined when nothing is published. */
export function currentVersion(manifest: SnapshotManifest): VersionInfo | undefined {
  return manifest.versions.find((v) => v.version === manifest.current);
}

/** Finds a retained version by id. */
export function findVersion(manifest: SnapshotManifest, version: string): VersionInfo | undefined {
  return manifest.versions.find((v) => v.version === version);
}

/** What a run tells the manifest about the dataset besides the version itself. */
export interface DatasetFacts {
  description?: string;
  maxAgeSeconds?: number | null;
}

/**
 * Returns a new manifest with `info` published as current (or, while pinned, added to the history
 * only), history trimmed to `retain` entries (the current one is never trimmed). Pure: the caller
 * writes it with compare-and-swap.
 */
export function withPublishedVersion(
  previous: SnapshotManifest | null,
  dataset: string,
  info: VersionInfo,
  now: Date,
  facts: DatasetFacts = {},
  retain = DEFAULT_RETAINED_VERSIONS,
): SnapshotManifest {
  const history = (previous?.versions ?? []).filter((v) => v.version !== info.version);
  const pinned = previous?.pinned ?? false;
  const current = pinned ? (previous?.current ?? info.version) : info.version;
  const newest = [info, ...history];
  const kept = newest.slice(0, Math.max(1, retain));
  // The current version stays retained even when it is older than the newest `retain`.
  if (!kept.some((v) => v.version === current)) kept.push(newest.find((v) => v.version === current)!);
  return {
    schema: MANIFEST_SCHEMA_VERSION,
    dataset,
    description: facts.description ?? previous?.description ?? "",
    current,
    pinned,
    versions: kept,
    checked_at: now.toISOString(),
    max_age_seconds: facts.maxAgeSeconds === undefined ? (previous?.max_age_seconds ?? null) : facts.maxAgeSeconds,
    updated_at: now.toISOString(),
  };
}

/**
 * Parses and validates a manifest from its JSON text.
 * @throws {Error} with a message naming the first invalid field (or saying the text is not JSON).
 */
export function parseManifest(text: string): SnapshotManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("invalid manifest: not JSON");
  }
  const result = SnapshotManifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`invalid manifest: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  return result.data;
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

/** One row of the stored catalog (`catalog.json`, rebuilt after every manifest change). */
export const CatalogEntrySchema = z.object({
  name: z.string(),
  version: z.string(),
  generated_at: z.string(),
  rows: z.number(),
  bytes: z.number(),
  pages: z.number(),
  key: z.string().nullable(),
  url: z.string(),
  /** When a run last confirmed the content (the manifest's `checked_at`). */
  checked_at: z.string().nullable().default(null),
  /** The dataset's freshness budget in seconds (null: none recorded, never stale). */
  max_age_seconds: z.number().nullable().default(null),
});
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

/**
 * One row of the public catalog (`GET /v1/datasets`): the stored entry plus its freshness at the
 * time of the answer (`age_seconds` since `checked_at`, `stale` when older than the budget).
 */
export const PublicCatalogEntrySchema = CatalogEntrySchema.extend({
  age_seconds: z.number().nullable(),
  stale: z.boolean(),
});
export type PublicCatalogEntry = z.infer<typeof PublicCatalogEntrySchema>;

/** The publish notice the compute side sends the edge after a manifest write. */
export const PublishNoticeSchema = z.object({
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  version: z.string().regex(VERSION_ID_PATTERN),
});
export type PublishNotice = z.infer<typeof PublishNoticeSchema>;
