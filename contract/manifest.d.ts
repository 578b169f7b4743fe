/**
 * The snapshot manifest: one per dataset, in R2, naming the current version and the retained
 * history. The publisher writes it last, by compare-and-swap, so a reader that sees a version in a
 * manifest can rely on all of that version's objects being there already.
 */
import { z } from "zod";
export declare const MANIFEST_SCHEMA_VERSION = 1;
/** How many versions a manifest keeps in its history unless configured otherwise. */
export declare const DEFAULT_RETAINED_VERSIONS = 20;
export declare const ColumnSchema: z.ZodObject<{
    name: z.ZodString;
    type: z.ZodString;
}, z.core.$strip>;
export type Column = z.infer<typeof ColumnSchema>;
export declare const VersionInfoSchema: z.ZodObject<{
    version: z.ZodString;
    hash: z.ZodString;
    generated_at: z.ZodISODateTime;
    rows: z.ZodNumber;
    bytes: z.ZodNumber;
    columns: z.ZodArray<z.ZodObject<{
        name: z.ZodString;
        type: z.ZodString;
    }, z.core.$strip>>;
    key: z.ZodNullable<z.ZodString>;
    shards: z.ZodNumber;
    run_id: z.ZodOptional<z.ZodString>;
}, z.core.$strip>;
export type VersionInfo = z.infer<typeof VersionInfoSchema>;
export declare const SnapshotManifestSchema: z.ZodObject<{
    schema: z.ZodLiteral<1>;
    dataset: z.ZodString;
    current: z.ZodNullable<z.ZodString>;
    pinned: z.ZodDefault<z.ZodBoolean>;
    versions: z.ZodArray<z.ZodObject<{
        version: z.ZodString;
        hash: z.ZodString;
        generated_at: z.ZodISODateTime;
        rows: z.ZodNumber;
        bytes: z.ZodNumber;
        columns: z.ZodArray<z.ZodObject<{
            name: z.ZodString;
            type: z.ZodString;
        }, z.core.$strip>>;
        key: z.ZodNullable<z.ZodString>;
        shards: z.ZodNumber;
        run_id: z.ZodOptional<z.ZodString>;
    }, z.core.$strip>>;
    updated_at: z.ZodISODateTime;
}, z.core.$strip>;
export type SnapshotManifest = z.infer<typeof SnapshotManifestSchema>;
/** The version info of the current version, or undefined when nothing is published. */
export declare function currentVersion(manifest: SnapshotManifest): VersionInfo | undefined;
/** Finds a retained version by id. */
export declare function findVersion(manifest: SnapshotManifest, version: string): VersionInfo | undefined;
/**
 * Returns a new manifest with `info` published as current, history trimmed to `retain` entries
 * (the current one is never trimmed). Pure: the caller writes it with compare-and-swap.
 */
export declare function withPublishedVersion(previous: SnapshotManifest | null, dataset: string, info: VersionInfo, now: Date, retain?: number): SnapshotManifest;
/**
 * Parses and validates a manifest from its JSON text.
 * @throws {Error} with a message naming the first invalid field.
 */
export declare function parseManifest(text: string): SnapshotManifest;
/** One row of the public catalog (`GET /v1/datasets`). */
export declare const CatalogEntrySchema: z.ZodObject<{
    name: z.ZodString;
    version: z.ZodString;
    generated_at: z.ZodString;
    rows: z.ZodNumber;
    bytes: z.ZodNumber;
    key: z.ZodNullable<z.ZodString>;
    url: z.ZodString;
}, z.core.$strip>;
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;
/** The publish notice the compute side sends the edge after a manifest write. */
export declare const PublishNoticeSchema: z.ZodObject<{
    dataset: z.ZodString;
    version: z.ZodString;
}, z.core.$strip>;
export type PublishNotice = z.infer<typeof PublishNoticeSchema>;
