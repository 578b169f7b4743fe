/**
 * The snapshot manifest: one per dataset, in R2, naming the current version and the retained
 * history. The publisher writes it last, by compare-and-swap, so a reader that sees a version in a
 * manifest can rely on all of that version's objects being there already.
 */
import { z } from "zod";
import { DATASET_NAME_PATTERN, VERSION_ID_PATTERN } from "./names.ts";

export const MANIFEST_SCHEMA_VERSION = 1;

/** How many versions a manifest keeps in its history unless configured otherwise. */
export const DEFAULT_RETAINED_VERSIONS = 20;

export const ColumnSchema = z.object({
  name: z.string(),
  /** The polars dtype as a string (e.g. "Float64", "String", "Date"). */
  type: z.string(),
});
export type Column = z.infer<typeof ColumnSchema>;

export const VersionInfoSchema = z.object({
  version: z.string().regex(VERSION_ID_PATTERN),
  /** sha256 of the body bytes, lowercase hex: the ETag of the body. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** ISO-8601 UTC time the build finished. */
  generated_at: z.iso.datetime(),
  rows: z.number().int().nonnegative(),
  /** Size of the body in bytes. */
  bytes: z.number().int().nonnegative(),
  columns: z.array(ColumnSchema),
  /** The key column of a keyed dataset, null otherwise. */
  key: z.string().nullable(),
  /** Number of item shards (0 when not keyed). */
  shards: z.number().int().nonnegative(),
  /** The run that produced this version. */
  run_id: z.string().optional(),
});
export type VersionInfo = z.infer<typeof VersionInfoSchema>;

export const SnapshotManifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA_VERSION),
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  /** The version served at the current URL; null before the first publish. */
  current: z.string().regex(VERSION_ID_PATTERN).nullable(),
  /** While pinned, scheduled runs build and record but do not replace `current`. */
  pinned: z.boolean().default(false),
  /** Retained versions, newest first. `current` is always among them. */
  versions: z.array(VersionInfoSchema),
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

/**
 * Returns a new manifest with `info` published as current, history trimmed to `retain` entries
 * (the current one is never trimmed). Pure: the caller writes it with compare-and-swap.
 */
export function withPublishedVersion(
  previous: SnapshotManifest | null,
  dataset: string,
  info: VersionInfo,
  now: Date,
  retain = DEFAULT_RETAINED_VERSIONS,
): SnapshotManifest {
  const history = (previous?.versions ?? []).filter((v) => v.version !== info.version);
  const pinned = previous?.pinned ?? false;
  return {
    schema: MANIFEST_SCHEMA_VERSION,
    dataset,
    current: pinned ? (previous?.current ?? info.version) : info.version,
    pinned,
    versions: [info, ...history].slice(0, Math.max(1, retain)),
    updated_at: now.toISOString(),
  };
}

/**
 * Parses and validates a manifest from its JSON text.
 * @throws {Error} with a message naming the first invalid field.
 */
export function parseManifest(text: string): SnapshotManifest {
  const result = SnapshotManifestSchema.safeParse(JSON.parse(text));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`invalid manifest: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  return result.data;
}

/** One row of the public catalog (`GET /v1/datasets`). */
export const CatalogEntrySchema = z.object({
  name: z.string(),
  version: z.string(),
  generated_at: z.string(),
  rows: z.number(),
  bytes: z.number(),
  key: z.string().nullable(),
  url: z.string(),
});
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

/** The publish notice the compute side sends the edge after a manifest write. */
export const PublishNoticeSchema = z.object({
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  version: z.string().regex(VERSION_ID_PATTERN),
});
export type PublishNotice = z.infer<typeof PublishNoticeSchema>;
