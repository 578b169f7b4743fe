/**
 * The local driver: the same on-disk R2 bucket that `wrangler dev` serves, reached through
 * wrangler's getPlatformProxy(). Both share `<persistTo>/v3`, so an object written here is served
 * by the local Worker at once. Starting the proxy launches a workerd process (about 0.7 s), so a
 * store is opened once per run and closed in a `finally`.
 */
import path from "node:path";
import { EdgesnapError } from "../errors.ts";
import type { ListOptions, ListResult, ObjectInfo, PutBody, PutOptions, SnapshotStore, StoredObject } from "./store.ts";

export interface LocalStoreOptions {
  /** The wrangler config whose R2 binding to open. Default: `wrangler.toml` in the working directory. */
  configPath?: string;
  /** Like `wrangler dev --persist-to`. Default: `.wrangler/state`. */
  persistTo?: string;
  /** The R2 binding name in the config. Default: `SNAPSHOTS`. */
  binding?: string;
}

/**
 * Opens the local R2 bucket.
 * @throws {EdgesnapError} code "storage" when wrangler cannot start the local runtime.
 */
export async function openLocalStore(options: LocalStoreOptions = {}): Promise<SnapshotStore> {
  const { getPlatformProxy } = await import("wrangler");
  const persistTo = options.persistTo ?? ".wrangler/state";
  let proxy: Awaited<ReturnType<typeof getPlatformProxy>>;
  try {
    proxy = await getPlatformProxy({
      configPath: options.configPath ?? "wrangler.toml",
      persist: { path: path.join(persistTo, "v3") },
      remoteBindings: false,
    });
  } catch (error) {
    throw new EdgesnapError("storage", `cannot open the local R2 bucket: ${(error as Error).message}`, { cause: error });
  }
  const bucket = (proxy.env as Record<string, unknown>)[options.binding ?? "SNAPSHOTS"] as R2Bucket | undefined;
  if (!bucket) {
    await proxy.dispose();
    throw new EdgesnapError("config", `wrangler config has no R2 binding named ${options.binding ?? "SNAPSHOTS"}`);
  }
  return new LocalStore(bucket, () => proxy.dispose());
}

/**
 * The slice of the R2 binding this driver uses, typed here so Workers types stay out of the
 * compute side (the proxy object is the real binding, reached over wrangler's local bridge).
 */
interface R2Object {
  key: string;
  etag: string;
  size: number;
  uploaded: Date;
  customMetadata?: Record<string, string>;
}
interface R2ObjectBody extends R2Object {
  body: ReadableStream<Uint8Array>;
  text(): Promise<string>;
}
interface R2Bucket {
  get(key: string): Promise<R2ObjectBody | null>;
  head(key: string): Promise<R2Object | null>;
  put(key: string, value: string | Uint8Array, options?: {
    onlyIf?: { etagMatches?: string; etagDoesNotMatch?: string };
    httpMetadata?: { contentType?: string };
    customMetadata?: Record<string, string>;
    sha256?: string;
  }): Promise<R2Object | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options: { prefix: string; delimiter?: string; cursor?: string; limit?: number; include?: string[] }): Promise<{
    objects: R2Object[];
    delimitedPrefixes: string[];
    truncated: boolean;
    cursor?: string;
  }>;
}

function toInfo(object: R2Object): ObjectInfo {
  return {
    key: object.key,
    etag: object.etag,
    size: object.size,
    uploaded: object.uploaded,
    customMetadata: object.customMetadata ?? {},
  };
}

class LocalStore implements SnapshotStore {
  readonly kind = "local";
  #bucket: R2Bucket;
  #dispose: (() => Promise<void>) | null;

  constructor(bucket: R2Bucket, dispose: () => Promise<void>) {
    this.#bucket = bucket;
    this.#dispose = dispose;
  }

  async get(key: string): Promise<StoredObject | null> {
    const object = await this.#bucket.get(key);
    if (!object) return null;
    // Read `body` once and derive text() from it: through wrangler's proxy, touching `body` starts
    // consuming the stream, so a later object.text() fails with "Body has already been used".
    const body = object.body;
    return {
      ...toInfo(object),
      body,
      text: () => new Response(body).text(),
    };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const object = await this.#bucket.head(key);
    return object ? toInfo(object) : null;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    const onlyIf = options.ifMatch
      ? { etagMatches: options.ifMatch }
      : options.ifNoneMatch
        ? { etagDoesNotMatch: "*" }
        : undefined;
    let result: R2Object | null;
    try {
      // The binding needs a known length for streams; bodies here are bounded version objects.
      const value = body instanceof ReadableStream ? new Uint8Array(await new Response(body).arrayBuffer()) : body;
      result = await this.#bucket.put(key, value, {
        onlyIf,
        httpMetadata: options.contentType ? { contentType: options.contentType } : undefined,
        customMetadata: options.customMetadata,
        sha256: options.sha256,
      });
    } catch (error) {
      throw new EdgesnapError("storage", `put ${key} failed: ${(error as Error).message}`, { cause: error });
    }
    if (result === null) throw new EdgesnapError("conflict", `put ${key}: precondition failed`);
    return toInfo(result);
  }

  async delete(keys: string | string[]): Promise<void> {
    await this.#bucket.delete(keys);
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const result = await this.#bucket.list({
      prefix,
      delimiter: options.delimiter,
      cursor: options.cursor,
      limit: options.limit,
      include: ["customMetadata"],
    });
    return {
      objects: result.objects.map(toInfo),
      prefixes: result.delimitedPrefixes,
      cursor: result.truncated ? result.cursor : undefined,
    };
  }

  async close(): Promise<void> {
    const dispose = this.#dispose;
    this.#dispose = null;
    await dispose?.();
  }
}
