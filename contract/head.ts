/**
 * The head: the one mutable object of a dataset (stored as `datasets/<name>/manifest.json`). It
 * names the current version, whether it is pinned, the freshness facts and the retained versions
 * with one summary line each; everything else about a version is in its immutable index
 * (contract/version-index.ts). The head is written last, by compare-and-swap, so a reader that sees
 * a version in the head can rely on its index and objects being there. It stays a few KiB: each
 * retained version is one line `[version, hash, rows, bytes, generated_at]`, ~150 bytes, so 100
 * retained versions of any size fit in 16 KiB.
 *
 * A schema-2 manifest (every version with its whole page list) is read as a head plus the indexes
 * it describes (`parseHeadText`), so stores written before schema 3 keep being served; the first
 * write after the upgrade stores those indexes as objects and the head in schema 3.
 */
import { z } from "zod";
import { SnapshotManifestSchema, type DatasetFacts } from "./manifest.ts";
import { DATASET_NAME_PATTERN, VERSION_ID_PATTERN } from "./names.ts";
import { legacyIndex, SHA256, type VersionIndex } from "./version-index.ts";

export const HEAD_SCHEMA_VERSION = 3;

/** How many versions a head retains unless configured otherwise. */
export const DEFAULT_RETAINED_VERSIONS = 20;
/** The most versions a head may retain (its size target holds up to here). */
export const MAX_RETAINED_VERSIONS = 100;

/** One retained version, as the head lists it. */
export interface VersionSummary {
  version: string;
  /** sha256 of the full body: its ETag. */
  hash: string;
  rows: number;
  /** Size of the full body. */
  bytes: number;
  generated_at: string;
}

const SummaryTupleSchema = z
  .tuple([z.string().regex(VERSION_ID_PATTERN), SHA256, z.number().int().nonnegative(), z.number().int().nonnegative(), z.iso.datetime()])
  .transform(([version, hash, rows, bytes, generated_at]): VersionSummary => ({ version, hash, rows, bytes, generated_at }));

/**
 * The collector's state, in the head so that publishers see it in the object they swap: `epoch`
 * grows with every collection, and `locked_until` is set while one deletes (see
 * contract/protocol/collect.ts for why a publisher checks both).
 */
export const CollectorStateSchema = z.object({
  epoch: z.number().int().nonnegative(),
  locked_until: z.iso.datetime().nullable(),
  collected_at: z.iso.datetime().nullable(),
});
export type CollectorState = z.infer<typeof CollectorStateSchema>;

const NO_COLLECTION: CollectorState = { epoch: 0, locked_until: null, collected_at: null };

export const DatasetHeadSchema = z.object({
  schema: z.literal(HEAD_SCHEMA_VERSION),
  dataset: z.string().regex(DATASET_NAME_PATTERN),
  /** The dataset definition's description, for the row schema and the API document. */
  description: z.string().default(""),
  /** The version served at the current URL; null before the first publish. */
  current: z.string().regex(VERSION_ID_PATTERN).nullable(),
  /** While pinned, scheduled runs build and record but do not replace `current`. */
  pinned: z.boolean().default(false),
  /** Retained versions, newest first. `current` is always among them. */
  versions: z.array(SummaryTupleSchema),
  /** When a run last confirmed the content (published it, or found it unchanged). */
  checked_at: z.iso.datetime().nullable().default(null),
  /** The dataset's freshness budget: stale when `checked_at` is older than this. */
  max_age_seconds: z.number().int().positive().nullable().default(null),
  updated_at: z.iso.datetime(),
  gc: CollectorStateSchema.default(NO_COLLECTION),
  /**
   * The newest lease fencing token a publish ran under (contract/protocol/leases.ts): a run holding
   * an older one must not commit. Absent while schedulers do not share leases.
   */
  lease_token: z.number().int().positive().optional(),
});
export type DatasetHead = z.output<typeof DatasetHeadSchema>;

/**
 * A head as read: for a schema-2 manifest, also the indexes of its versions (made from it, not
 * yet stored as objects); null for a schema-3 head.
 */
export interface HeadState {
  head: DatasetHead;
  legacy: ReadonlyMap<string, VersionIndex> | null;
}

function invalid(prefix: string, error: z.ZodError): Error {
  const issue = error.issues[0];
  return new Error(`${prefix}: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
}

/**
 * Parses a dataset's head from its JSON text, schema 3 or schema 2.
 * @throws {Error} naming the first invalid field (or saying the text is not JSON)
 */
export function parseHeadText(text: string): HeadState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("invalid manifest: not JSON");
  }
  if (typeof json === "object" && json !== null && (json as { schema?: unknown }).schema === 2) {
    const legacy = SnapshotManifestSchema.safeParse(json);
    if (!legacy.success) throw invalid("invalid manifest", legacy.error);
    const manifest = legacy.data;
    const indexes = new Map(manifest.versions.map((info) => [info.version, legacyIndex(manifest.dataset, info)]));
    const head: DatasetHead = {
      schema: HEAD_SCHEMA_VERSION,
      dataset: manifest.dataset,
      description: manifest.description,
      current: manifest.current,
      pinned: manifest.pinned,
      versions: manifest.versions.map(summaryOf),
      checked_at: manifest.checked_at,
      max_age_seconds: manifest.max_age_seconds,
      updated_at: manifest.updated_at,
      gc: NO_COLLECTION,
    };
    return { head, legacy: indexes };
  }
  const result = DatasetHeadSchema.safeParse(json);
  if (!result.success) throw invalid("invalid manifest", result.error);
  return { head: result.data, legacy: null };
}

/** The stored text of a head (versions as tuples). Pure. */
export function headText(head: DatasetHead): string {
  return JSON.stringify({ ...head, versions: head.versions.map((v) => [v.version, v.hash, v.rows, v.bytes, v.generated_at]) });
}

/** A version's summary line. Pure. */
export function summaryOf(info: Pick<VersionSummary, "version" | "hash" | "rows" | "bytes" | "generated_at">): VersionSummary {
  return { version: info.version, hash: info.hash, rows: info.rows, bytes: info.bytes, generated_at: info.generated_at };
}

/** The current version's summary, or undefined when nothing is published. */
export function currentSummary(head: DatasetHead): VersionSummary | undefined {
  return head.versions.find((v) => v.version === head.current);
}

/** A retained version's summary. */
export function findSummary(head: DatasetHead, version: string): VersionSummary | undefined {
  return head.versions.find((v) => v.version === version);
}

/**
 * A new head with `summary` published as current (or, while pinned, added to the history only),
 * history trimmed to `retain` entries (the current one is never trimmed). Pure: the caller writes it
 * with compare-and-swap.
 * @returns the head and the versions it no longer retains
 */
export function withPublishedVersion(
  previous: DatasetHead | null,
  dataset: string,
  summary: VersionSummary,
  now: Date,
  facts: DatasetFacts = {},
  retain = DEFAULT_RETAINED_VERSIONS,
): { head: DatasetHead; dropped: VersionSummary[] } {
  const history = (previous?.versions ?? []).filter((v) => v.version !== summary.version);
  const pinned = previous?.pinned ?? false;
  const current = pinned ? (previous?.current ?? summary.version) : summary.version;
  const newest = [summary, ...history];
  const kept = newest.slice(0, Math.max(1, Math.min(retain, MAX_RETAINED_VERSIONS)));
  // The current version stays retained even when it is older than the newest `retain`.
  if (!kept.some((v) => v.version === current)) kept.push(newest.find((v) => v.version === current)!);
  const keptIds = new Set(kept.map((v) => v.version));
  const head: DatasetHead = {
    schema: HEAD_SCHEMA_VERSION,
    dataset,
    description: facts.description ?? previous?.description ?? "",
    current,
    pinned,
    versions: kept,
    checked_at: now.toISOString(),
    max_age_seconds: facts.maxAgeSeconds === undefined ? (previous?.max_age_seconds ?? null) : facts.maxAgeSeconds,
    updated_at: now.toISOString(),
    gc: previous?.gc ?? NO_COLLECTION,
  };
  return { head, dropped: history.filter((v) => !keptIds.has(v.version)) };
}

/** A head with `checked_at` refreshed and the definition's facts recorded. Pure. */
export function withConfirmation(head: DatasetHead, now: Date, facts: DatasetFacts = {}): DatasetHead {
  return {
    ...head,
    description: facts.description ?? head.description,
    max_age_seconds: facts.maxAgeSeconds === undefined ? head.max_age_seconds : facts.maxAgeSeconds,
    checked_at: now.toISOString(),
  };
}
