/**
 * Types both sides share about versions (columns, formats, the facts a run records), and the
 * schema-2 manifest that stores written before schema 3 hold: one object per dataset with every
 * retained version and its whole page list. Schema 3 splits it into a small head
 * (contract/head.ts) and one immutable index per version (contract/version-index.ts); a schema-2
 * manifest is still read (`parseHeadText`), and the first write after the upgrade replaces it.
 */
import { z } from "zod";
import { DATASET_NAME_PATTERN, VERSION_ID_PATTERN } from "./names.ts";

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);

export const ColumnSchema = z.object({
  name: z.string(),
  /** The polars dtype as a string (e.g. "Float64", "String", "Date"). */
  type: z.string(),
  /** Whether any row holds null in this column (NaN and infinities are written as null). */
  nullable: z.boolean().default(true),
});
export type Column = z.infer<typeof ColumnSchema>;

export const FORMATS = ["csv", "ndjson", "parquet"] as const;
export type Format = (typeof FORMATS)[number];

export const FormatObjectSchema = z.object({ bytes: z.number().int().nonnegative(), sha256: SHA256 });
export type FormatObject = z.infer<typeof FormatObjectSchema>;

/** Schema 2: one page of a version, with its first row. */
const LegacyPageSchema = z.object({
  first_row: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().positive(),
  sha256: SHA256,
});

/** Schema 2: a version as the manifest listed it (objects in the version's own folder). */
export const VersionInfoSchema = z.object({
  version: z.string().regex(VERSION_ID_PATTERN),
  hash: SHA256,
  generated_at: z.iso.datetime(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  columns: z.array(ColumnSchema),
  key: z.string().nullable(),
  /** Number of record shards (0 when not keyed). */
  shards: z.number().int().nonnegative(),
  pages: z.array(LegacyPageSchema).min(1),
  formats: z.partialRecord(z.enum(FORMATS), FormatObjectSchema).default({}),
  run_id: z.string().optional(),
});
export type VersionInfo = z.infer<typeof VersionInfoSchema>;

/** Schema 2: the whole manifest of a dataset. */
export const SnapshotManifestSchema = z.object({
  schema: z.literal(2),
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  description: z.string().default(""),
  current: z.string().regex(VERSION_ID_PATTERN).nullable(),
  pinned: z.boolean().default(false),
  versions: z.array(VersionInfoSchema),
  checked_at: z.iso.datetime().nullable().default(null),
  max_age_seconds: z.number().int().positive().nullable().default(null),
  updated_at: z.iso.datetime(),
});
export type SnapshotManifest = z.infer<typeof SnapshotManifestSchema>;

/** What a run tells the head about the dataset besides the version itself. */
export interface DatasetFacts {
  description?: string;
  maxAgeSeconds?: number | null;
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
