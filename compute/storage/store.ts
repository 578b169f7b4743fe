/**
 * The storage interface the publisher writes through. R2 is the source of truth; drivers reach it
 * either through wrangler's local bindings (the embedded default) or over R2's S3 API (production).
 * Every driver passes the same contract suite (test/storage/contract.ts).
 */

export interface ObjectInfo {
  key: string;
  /** Opaque entity tag, unquoted; the value to pass back as `ifMatch`. */
  etag: string;
  size: number;
  uploaded: Date;
  customMetadata: Record<string, string>;
}

export interface StoredObject extends ObjectInfo {
  body: ReadableStream<Uint8Array>;
  /** Reads the whole body as text (only for small objects such as manifests). */
  text(): Promise<string>;
}

export interface PutOptions {
  contentType?: string;
  customMetadata?: Record<string, string>;
  /** Lowercase hex sha256 of the body; the store verifies it where the backend supports it. */
  sha256?: string;
  /** Compare-and-swap: write only if the stored object's etag equals this. */
  ifMatch?: string;
  /** Create-only: write only if no object exists under the key. */
  ifNoneMatch?: "*";
}

export interface ListOptions {
  /** Group keys below the next delimiter into `prefixes` (like a folder listing). */
  delimiter?: string;
  cursor?: string;
  limit?: number;
}

export interface ListResult {
  objects: ObjectInfo[];
  prefixes: string[];
  /** Present when more results remain. */
  cursor?: string;
}

export type PutBody = string | Uint8Array | ReadableStream<Uint8Array>;

export interface SnapshotStore {
  /** A short name for logs: "local", "s3". */
  readonly kind: string;
  get(key: string): Promise<StoredObject | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Writes an object.
   * @throws {EdgesnapError} code "conflict" when `ifMatch`/`ifNoneMatch` does not hold;
   *   code "storage" for any other failure.
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo>;
  delete(keys: string | string[]): Promise<void>;
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  /** Releases connections and child processes. Safe to call twice. */
  close(): Promise<void>;
}
