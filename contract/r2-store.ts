/**
 * The storage driver over an R2 bucket binding: the Worker's `env.SNAPSHOTS`, and on the compute
 * side the same binding reached through wrangler's local runtime (a one-shot run without
 * `npm start`). The binding's own type lives in Workers' types, which must not reach the compute
 * side, so the slice this driver uses is described structurally below.
 *
 * A streamed body of unknown length is read one part at a time: it is stored with one `put` when it
 * ends within the first part, else as a multipart upload of equal parts (R2 requires every part but
 * the last to have the same size), so memory stays near one part however large the body.
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/
 */
import { toHex, type GetOptions, type ListOptions, type ListResult, type ObjectInfo, type ObjectStore, type PutBody, type PutOptions, type Sha256Hasher, type StoredObject } from "./storage.ts";

/** Size of each part of a multipart upload but the last (R2's minimum is 5 MiB). */
export const R2_PART_BYTES = 8 * 1024 * 1024;
/** The binding deletes at most 1000 keys per call. */
const DELETE_BATCH = 1000;

export interface R2ObjectLike {
  key: string;
  etag: string;
  size: number;
  uploaded: Date;
  customMetadata?: Record<string, string>;
  checksums?: { sha256?: ArrayBuffer };
}

export interface R2ObjectBodyLike extends R2ObjectLike {
  body: ReadableStream<Uint8Array>;
}

export interface R2PutOptionsLike {
  onlyIf?: { etagMatches?: string; etagDoesNotMatch?: string };
  httpMetadata?: { contentType?: string };
  customMetadata?: Record<string, string>;
  sha256?: string;
}

export interface R2MultipartUploadLike {
  uploadPart(partNumber: number, value: Uint8Array): Promise<{ partNumber: number; etag: string }>;
  complete(parts: { partNumber: number; etag: string }[]): Promise<R2ObjectLike>;
  abort(): Promise<void>;
}

/** The slice of the R2 binding (`R2Bucket`) the driver uses. */
export interface R2BucketLike {
  get(key: string, options?: { range?: { offset: number; length: number } }): Promise<R2ObjectBodyLike | null>;
  head(key: string): Promise<R2ObjectLike | null>;
  put(key: string, value: string | Uint8Array | ArrayBuffer, options?: R2PutOptionsLike): Promise<R2ObjectLike | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options: { prefix: string; delimiter?: string; cursor?: string; limit?: number; include?: ("httpMetadata" | "customMetadata")[] }): Promise<{
    objects: R2ObjectLike[];
    delimitedPrefixes: string[];
    truncated: boolean;
    cursor?: string;
  }>;
  createMultipartUpload(key: string, options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string> }): Promise<R2MultipartUploadLike>;
}

export interface R2StoreOptions {
  /** Makes an incremental SHA-256, to verify `sha256` of bodies uploaded in parts. */
  sha256: () => Sha256Hasher;
  /** Part size of multipart uploads. Default R2_PART_BYTES. */
  partBytes?: number;
  /** Called by close() (e.g. to stop wrangler's local runtime). */
  dispose?: () => Promise<void>;
  /** For logs. Default "r2". */
  kind?: string;
}

function toInfo(object: R2ObjectLike): ObjectInfo {
  const sha256 = object.checksums?.sha256;
  return {
    key: object.key,
    etag: object.etag,
    size: object.size,
    uploaded: object.uploaded,
    customMetadata: { ...object.customMetadata },
    ...(sha256 ? { sha256: toHex(sha256) } : {}),
  };
}

/** Opens the driver over a bucket binding. Makes no request. */
export function createR2Store(bucket: R2BucketLike, options: R2StoreOptions): ObjectStore {
  const partBytes = options.partBytes ?? R2_PART_BYTES;
  let dispose = options.dispose;

  async function putBytes(key: string, bytes: Uint8Array, put: PutOptions): Promise<ObjectInfo | null> {
    const onlyIf = put.ifMatch ? { etagMatches: put.ifMatch } : put.ifNoneMatch ? { etagDoesNotMatch: "*" } : undefined;
    const written = await bucket.put(key, bytes, {
      onlyIf,
      httpMetadata: put.contentType ? { contentType: put.contentType } : undefined,
      customMetadata: put.customMetadata,
      sha256: put.sha256,
    });
    return written === null ? null : toInfo(written);
  }

  async function putStream(key: string, stream: ReadableStream<Uint8Array>, put: PutOptions): Promise<ObjectInfo | null> {
    const hasher = put.sha256 ? options.sha256() : undefined;
    const parts = readParts(stream, partBytes);
    const first = await parts.next();
    const second = first.done ? first : await parts.next();
    if (second.done) {
      // The whole body fits in one part: one put, which R2 itself verifies against `sha256`.
      return putBytes(key, first.done ? new Uint8Array(0) : first.value, put);
    }
    if (put.ifMatch || put.ifNoneMatch) {
      await parts.return(undefined);
      throw new Error(`put ${key}: a conditional write must fit in one part (${partBytes} bytes)`);
    }
    const upload = await bucket.createMultipartUpload(key, {
      httpMetadata: put.contentType ? { contentType: put.contentType } : undefined,
      customMetadata: put.customMetadata,
    });
    try {
      const uploaded: { partNumber: number; etag: string }[] = [];
      let partNumber = 0;
      let size = 0;
      const send = async (bytes: Uint8Array) => {
        hasher?.update(bytes);
        size += bytes.byteLength;
        uploaded.push(await upload.uploadPart(++partNumber, bytes));
      };
      await send(first.value!);
      await send(second.value);
      for await (const bytes of parts) await send(bytes);
      if (hasher && put.sha256) {
        const actual = await hasher.digest();
        if (actual !== put.sha256.toLowerCase()) throw new Error(`put ${key}: sha256 mismatch: body is ${actual}, expected ${put.sha256}`);
      }
      const object = await upload.complete(uploaded);
      return { ...toInfo(object), size };
    } catch (error) {
      await parts.return(undefined);
      await upload.abort().catch(() => {});
      throw error;
    }
  }

  return {
    kind: options.kind ?? "r2",
    async get(key: string, get: GetOptions = {}): Promise<StoredObject | null> {
      const object = await bucket.get(key, get.range ? { range: get.range } : undefined);
      if (object === null) return null;
      // Read `body` once and derive text() from it: through wrangler's local bridge, touching
      // `body` starts consuming the stream, so a later object.text() would find it used.
      const body = object.body;
      return { ...toInfo(object), body, text: () => new Response(body).text() };
    },
    async head(key: string): Promise<ObjectInfo | null> {
      const object = await bucket.head(key);
      return object === null ? null : toInfo(object);
    },
    async put(key: string, body: PutBody, put: PutOptions = {}): Promise<ObjectInfo | null> {
      if (body instanceof ReadableStream) return putStream(key, body, put);
      return putBytes(key, typeof body === "string" ? new TextEncoder().encode(body) : body, put);
    },
    async delete(keys: string | readonly string[]): Promise<void> {
      const list = typeof keys === "string" ? [keys] : [...keys];
      for (let start = 0; start < list.length; start += DELETE_BATCH) await bucket.delete(list.slice(start, start + DELETE_BATCH));
    },
    async list(prefix: string, list: ListOptions = {}): Promise<ListResult> {
      const page = await bucket.list({ prefix, delimiter: list.delimiter, cursor: list.cursor, limit: list.limit, include: ["customMetadata"] });
      return {
        objects: page.objects.map(toInfo),
        prefixes: page.delimitedPrefixes,
        cursor: page.truncated ? page.cursor : undefined,
      };
    },
    async close(): Promise<void> {
      const release = dispose;
      dispose = undefined;
      await release?.();
    },
  };
}

/**
 * Cuts a stream into parts of exactly `size` bytes (the last may be shorter), holding at most one
 * part. Cancels the stream when the consumer stops early.
 */
export async function* readParts(stream: ReadableStream<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    let part = new Uint8Array(size);
    let filled = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.byteLength) {
        const take = Math.min(size - filled, value.byteLength - offset);
        part.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === size) {
          yield part;
          part = new Uint8Array(size);
          filled = 0;
        }
      }
    }
    finished = true;
    if (filled > 0) yield part.subarray(0, filled);
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
