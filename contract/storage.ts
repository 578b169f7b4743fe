/**
 * The storage interface both sides write through. R2 is the source of truth; drivers reach it
 * through the Workers R2 binding (the Worker, and a one-shot local run through wrangler's local
 * runtime), through the local Worker's storage API (runs under `npm start`), or over R2's S3 API
 * (production compute). Every driver passes the same contract suite (test/storage/contract.ts),
 * inside workerd and in Node alike, so the manifest protocol above it (contract/protocol/) behaves
 * the same whichever driver wrote the bucket. Web-standard APIs only.
 */

export interface ObjectInfo {
  key: string;
  /** Opaque entity tag, unquoted; the value to pass back as `ifMatch`. */
  etag: string;
  size: number;
  uploaded: Date;
  customMetadata: Record<string, string>;
  /**
   * The store's own checksum of the whole object, lowercase hex, where it keeps one (R2 does for an
   * object written in one put with a sha256; not for a multipart upload). Readers compare it with
   * the hash they expect before they answer.
   */
  sha256?: string;
}

export interface StoredObject extends ObjectInfo {
  body: ReadableStream<Uint8Array>;
  /** Reads the whole body as text (only for small objects such as manifests). */
  text(): Promise<string>;
}

export interface GetOptions {
  /** Read only these bytes of the object (`offset` from the start, `length` bytes). */
  range?: { offset: number; length: number };
}

export interface PutOptions {
  contentType?: string;
  customMetadata?: Record<string, string>;
  /** Lowercase hex sha256 of the body; the store refuses a body that does not match it. */
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

export interface ObjectStore {
  /** A short name for logs: "r2", "worker", "s3". */
  readonly kind: string;
  get(key: string, options?: GetOptions): Promise<StoredObject | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Writes an object. A body of any size may be streamed; drivers never hold more than a bounded
   * part of it in memory.
   * @returns the stored object's info, or null when `ifMatch`/`ifNoneMatch` did not hold (nothing
   *   was written), the same convention as the R2 binding's `onlyIf`
   * @throws when the write failed for any other reason, or the body does not match `sha256`
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo | null>;
  /** Deletes keys; keys that do not exist are not an error. */
  delete(keys: string | readonly string[]): Promise<void>;
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  /** Releases connections and child processes. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Every object and prefix under `prefix`, following the listing's cursor to the end, in key order.
 * The one place that pages through a listing.
 */
export async function* listAll(store: ObjectStore, prefix: string, options: Omit<ListOptions, "cursor"> = {}): AsyncGenerator<ListResult> {
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { ...options, cursor });
    yield page;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** The keys of every object under `prefix`. */
export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of listAll(store, prefix)) keys.push(...page.objects.map((object) => object.key));
  return keys;
}

/**
 * The names of the "folders" directly under `prefix` (a listing with delimiter "/"): for
 * `datasets/`, every dataset that has an object.
 */
export async function listFolders(store: ObjectStore, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of listAll(store, prefix, { delimiter: "/" })) {
    for (const folder of page.prefixes) names.push(folder.slice(prefix.length).replace(/\/$/, ""));
  }
  return names;
}

/**
 * An incremental SHA-256: node:crypto's Hash on the compute side, `crypto.DigestStream` in
 * workerd (Web Crypto's `digest` takes the whole input at once).
 */
export interface Sha256Hasher {
  update(bytes: Uint8Array): void;
  /** Lowercase hex. */
  digest(): Promise<string>;
}

/** Lowercase hex of bytes. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const byte of view) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** sha256 of a whole (small) text or byte array, with Web Crypto. */
export async function sha256Of(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return toHex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}
