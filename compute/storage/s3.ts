/**
 * The S3 driver: production R2 (or any S3-compatible store) over the S3 REST API, path-style URLs
 * so any endpoint works (`https://<account_id>.r2.cloudflarestorage.com`, MinIO, s3rver).
 *
 * Built on aws4fetch (SigV4 signing over the platform fetch; a few kB, no dependencies) rather
 * than the AWS SDK v3: the run process is short-lived and starts once per run, and the SDK would
 * add megabytes to load on every run for the dozen S3 calls the publisher makes.
 *
 * Uploads stream: a streamed body is read one part at a time (16 MiB by default) and goes up in one
 * PUT when it ends within its first part, else as a multipart upload of equal parts (R2 requires
 * all parts but the last to be the same size), each part read only after the previous one is
 * uploaded, so a stream of any size never holds more than one part in memory. A body already in
 * memory goes up in one PUT up to the multipart threshold (64 MiB). A failed multipart upload is
 * aborted on every path (AbortMultipartUpload), so no orphaned parts keep costing storage.
 * Requests are retried with exponential backoff and full jitter on 5xx, 429 and network errors,
 * never on other 4xx (see retry.ts).
 */
import { createHash } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { EdgesnapError } from "../errors.ts";
import { DEFAULT_RETRY_POLICY, isRetryableStatus, retryAfterMs, withRetry, type RetryPolicy } from "../../contract/retry.ts";
import {
  completeMultipartXml,
  deleteObjectsXml,
  parseDeleteErrors,
  parseListObjectsV2,
  parseS3Error,
  unquoteEtag,
  xmlText,
} from "./s3-xml.ts";
import type { GetOptions, ListOptions, ListResult, ObjectInfo, ObjectStore, PutBody, PutOptions, StoredObject } from "../../contract/storage.ts";

const MiB = 1024 * 1024;
/** Bodies above this size are uploaded as multipart uploads. */
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 64 * MiB;
export const DEFAULT_PART_SIZE_BYTES = 16 * MiB;
/** S3 and R2 reject parts below 5 MiB except the last one. */
export const MIN_PART_SIZE_BYTES = 5 * MiB;
/** S3's limit on parts per upload. */
export const MAX_PARTS = 10_000;
/** DeleteObjects takes at most 1000 keys per request. */
const DELETE_BATCH_SIZE = 1000;

export interface S3StoreOptions {
  /** `https://<account_id>.r2.cloudflarestorage.com` for R2, or any S3 endpoint. */
  endpoint: string;
  bucket: string;
  /** Default `auto` (what R2 expects). */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Bodies larger than this use a multipart upload. Default 64 MiB. */
  multipartThresholdBytes?: number;
  /** Size of each multipart part but the last; at least 5 MiB. Default 16 MiB. */
  partSizeBytes?: number;
  /** Attempts and backoff for retryable failures. Default 5 attempts, 100 ms base, 5 s cap. */
  retry?: Partial<RetryPolicy>;
  /** Time allowed until response headers arrive, per attempt (a body may stream longer). Default 60 s. */
  requestTimeoutMs?: number;
  /** Called before each retry (for logs): the request, the attempt that failed, the delay chosen. */
  onRetry?: (retry: { method: string; key: string | null; attempt: number; delayMs: number; status: number | null }) => void;
}

/**
 * Opens an S3-protocol store. Makes no request: a wrong endpoint or credential surfaces on the
 * first operation as an EdgesnapError with code "storage".
 * @throws {EdgesnapError} code "config" for a malformed endpoint or part size.
 */
export async function openS3Store(options: S3StoreOptions): Promise<ObjectStore> {
  return new S3Store(options);
}

interface RequestInit {
  query?: Array<[string, string]>;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** Set when an attempt failed in a way that may still have been applied by the server. */
interface AttemptLog {
  ambiguous: boolean;
}

class S3Store implements ObjectStore {
  readonly kind = "s3";
  readonly #client: AwsClient;
  readonly #base: string;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #onRetry: S3StoreOptions["onRetry"];

  constructor(options: S3StoreOptions) {
    let endpoint: URL;
    try {
      endpoint = new URL(options.endpoint);
    } catch {
      throw new EdgesnapError("config", `S3 endpoint is not a URL: ${options.endpoint}`);
    }
    if (endpoint.protocol !== "https:" && endpoint.protocol !== "http:") {
      throw new EdgesnapError("config", `S3 endpoint must be http(s): ${options.endpoint}`);
    }
    this.#partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES;
    if (this.#partSize < MIN_PART_SIZE_BYTES) {
      throw new EdgesnapError("config", `S3 part size must be at least ${MIN_PART_SIZE_BYTES} bytes`);
    }
    this.#threshold = options.multipartThresholdBytes ?? DEFAULT_MULTIPART_THRESHOLD_BYTES;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#timeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#onRetry = options.onRetry;
    this.#base = `${endpoint.origin}${endpoint.pathname.replace(/\/+$/, "")}/${encodePathSegment(options.bucket)}`;
    this.#client = new AwsClient({
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      service: "s3",
      region: options.region ?? "auto",
      retries: 0,
    });
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | null> {
    // RFC 9110 §14.1.2: a byte range is first-last, both inclusive.
    const range = options.range ? { range: `bytes=${options.range.offset}-${options.range.offset + options.range.length - 1}` } : undefined;
    const response = await this.#request("GET", key, range ? { headers: range } : {});
    if (response.status === 404) {
      await discard(response);
      return null;
    }
    if (!response.ok) throw await failure("get", key, response);
    const body = response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    return {
      ...infoFromHeaders(key, response.headers),
      body,
      text: () => new Response(body).text(),
    };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const response = await this.#request("HEAD", key);
    await discard(response);
    if (response.status === 404) return null;
    if (!response.ok) throw await failure("head", key, response);
    return infoFromHeaders(key, response.headers);
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo | null> {
    try {
      return await this.#put(key, body, options);
    } catch (error) {
      // A precondition that did not hold is an answer, not a failure (the storage interface's rule).
      if (error instanceof EdgesnapError && error.code === "conflict") return null;
      throw error;
    }
  }

  async #put(key: string, body: PutBody, options: PutOptions): Promise<ObjectInfo> {
    const headers = putHeaders(key, options);
    if (!(body instanceof ReadableStream)) {
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      if (options.sha256) verifySha256(key, sha256Hex(bytes), options.sha256);
      if (bytes.byteLength <= this.#threshold) return this.#putSingle(key, bytes, headers, options);
      return this.#putMultipart(key, sliceParts(bytes, this.#partSize), headers, options, undefined);
    }
    // A stream holds one part (plus one read-ahead chunk) in memory: it goes up in one PUT when it
    // ends within its first part, else part by part.
    const hash = options.sha256 ? createHash("sha256") : undefined;
    const parts = readParts(body, this.#partSize, hash);
    const first = await nextPart(key, parts);
    if (first === undefined || first.last) {
      if (options.sha256 && hash) verifySha256(key, hash.digest("hex"), options.sha256);
      return this.#putSingle(key, first?.bytes ?? new Uint8Array(0), headers, options);
    }
    return this.#putMultipart(key, withFirst(first.bytes, parts, key), headers, options, hash);
  }

  async delete(keys: string | readonly string[]): Promise<void> {
    if (typeof keys === "string" || keys.length === 1) {
      const key = typeof keys === "string" ? keys : keys[0]!;
      const response = await this.#request("DELETE", key);
      // Deleting a missing key is not an error (S3 answers 204 anyway; some servers 404).
      if (!response.ok && response.status !== 404) throw await failure("delete", key, response);
      await discard(response);
      return;
    }
    for (let start = 0; start < keys.length; start += DELETE_BATCH_SIZE) {
      const batch = keys.slice(start, start + DELETE_BATCH_SIZE);
      const body = deleteObjectsXml(batch);
      // DeleteObjects requires a body digest (Content-MD5 is the one every server accepts).
      const response = await this.#request("POST", null, {
        query: [["delete", ""]],
        headers: { "content-type": "application/xml", "content-md5": createHash("md5").update(body).digest("base64") },
        body,
      });
      if (!response.ok) throw await failure("delete", `${batch.length} keys`, response);
      const errors = parseDeleteErrors(await response.text());
      const first = errors[0];
      if (first) {
        throw new EdgesnapError("storage", `delete ${first.key}: ${first.code}: ${first.message} (${errors.length} keys failed)`);
      }
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const query: Array<[string, string]> = [["list-type", "2"], ["prefix", prefix]];
    if (options.delimiter) query.push(["delimiter", options.delimiter]);
    if (options.limit !== undefined) query.push(["max-keys", String(options.limit)]);
    if (options.cursor) query.push(["continuation-token", options.cursor]);
    const response = await this.#request("GET", null, { query });
    if (!response.ok) throw await failure("list", prefix, response);
    const page = parseListObjectsV2(await response.text());
    return {
      // ListObjectsV2 does not return user metadata; a head() per object would be one request each.
      objects: page.objects.map((object) => ({
        key: object.key,
        etag: object.etag,
        size: object.size,
        uploaded: object.lastModified,
        customMetadata: {},
      })),
      prefixes: page.prefixes,
      cursor: page.nextContinuationToken,
    };
  }

  async close(): Promise<void> {
    // Nothing to release: fetch's connection pool closes idle sockets by itself.
  }

  async #putSingle(key: string, bytes: Uint8Array, headers: Record<string, string>, options: PutOptions): Promise<ObjectInfo> {
    const requestHeaders = { ...headers, ...conditionalHeaders(options) };
    if (options.sha256) requestHeaders["x-amz-checksum-sha256"] = Buffer.from(options.sha256, "hex").toString("base64");
    const log: AttemptLog = { ambiguous: false };
    const response = await this.#request("PUT", key, { headers: requestHeaders, body: bytes }, log);
    if (!response.ok) {
      const error = await failure("put", key, response, options);
      // A retry can lose to our own earlier attempt that the server applied but whose answer was
      // lost. A single PUT's ETag is the body's MD5 (S3 and R2), so that case is recognizable.
      if (error.code === "conflict" && log.ambiguous) {
        const current = await this.head(key);
        if (current && current.etag === createHash("md5").update(bytes).digest("hex")) return current;
      }
      throw error;
    }
    await discard(response);
    return {
      key,
      etag: unquoteEtag(response.headers.get("etag") ?? ""),
      size: bytes.byteLength,
      uploaded: dateHeader(response.headers.get("date")),
      customMetadata: { ...options.customMetadata },
    };
  }

  async #putMultipart(
    key: string,
    parts: AsyncGenerator<Uint8Array>,
    headers: Record<string, string>,
    options: PutOptions,
    hash: ReturnType<typeof createHash> | undefined,
  ): Promise<ObjectInfo> {
    let uploadId: string;
    try {
      uploadId = await this.#createMultipartUpload(key, headers);
    } catch (error) {
      await parts.return(undefined);
      throw error;
    }
    const etags: Array<{ partNumber: number; etag: string }> = [];
    let size = 0;
    // Some S3-compatible servers (s3rver) give a multipart object the MD5 of its whole body as ETag.
    const wholeMd5 = createHash("md5");
    try {
      let partNumber = 0;
      // One part at a time: the next is read only once the previous one is uploaded.
      for await (const part of parts) {
        partNumber += 1;
        if (partNumber > MAX_PARTS) throw new EdgesnapError("storage", `put ${key}: more than ${MAX_PARTS} parts; raise the part size`);
        size += part.byteLength;
        wholeMd5.update(part);
        const response = await this.#request("PUT", key, { query: [["partNumber", String(partNumber)], ["uploadId", uploadId]], body: part });
        if (!response.ok) throw await failure(`upload part ${partNumber} of`, key, response);
        await discard(response);
        etags.push({ partNumber, etag: unquoteEtag(response.headers.get("etag") ?? "") });
      }
      if (options.sha256 && hash) verifySha256(key, hash.digest("hex"), options.sha256);
      const etag = await this.#completeMultipartUpload(key, uploadId, etags, options, { size, etags: [multipartEtag(etags), wholeMd5.digest("hex")] });
      return { key, etag, size, uploaded: new Date(), customMetadata: { ...options.customMetadata } };
    } catch (error) {
      await parts.return(undefined);
      const aborted = await this.#abortMultipartUpload(key, uploadId);
      const wrapped = error instanceof EdgesnapError ? error : new EdgesnapError("storage", `put ${key}: ${(error as Error).message}`, { cause: error });
      if (aborted !== true) wrapped.message += `; aborting the multipart upload also failed: ${aborted}`;
      throw wrapped;
    }
  }

  async #createMultipartUpload(key: string, headers: Record<string, string>): Promise<string> {
    const response = await this.#request("POST", key, { query: [["uploads", ""]], headers });
    if (!response.ok) throw await failure("create multipart upload for", key, response);
    const uploadId = xmlText(await response.text(), "UploadId");
    if (!uploadId) throw new EdgesnapError("storage", `create multipart upload for ${key}: no UploadId in the response`);
    return uploadId;
  }

  async #completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: Array<{ partNumber: number; etag: string }>,
    options: PutOptions,
    ours: { size: number; etags: string[] },
  ): Promise<string> {
    const log: AttemptLog = { ambiguous: false };
    const response = await this.#request(
      "POST",
      key,
      { query: [["uploadId", uploadId]], headers: { "content-type": "application/xml", ...conditionalHeaders(options) }, body: completeMultipartXml(parts) },
      log,
    );
    if (!response.ok) {
      const error = await failure("complete multipart upload of", key, response, options);
      // A retry after a lost answer finds the upload gone (NoSuchUpload) because our earlier
      // attempt completed it: the object is ours when it has our size and ETag (S3 and R2 compute a
      // multipart ETag from the parts' MD5s; some servers use the MD5 of the whole body).
      if (log.ambiguous && response.status === 404 && error.message.includes("NoSuchUpload")) {
        const current = await this.head(key);
        if (current && current.size === ours.size && ours.etags.includes(current.etag)) return current.etag;
      }
      throw error;
    }
    // S3 may answer 200 and still report an error in the body.
    // See https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
    const xml = await response.text();
    const { code, message } = parseS3Error(xml);
    if (code) {
      const conflict = code === "PreconditionFailed" || code === "ConditionalRequestConflict";
      throw new EdgesnapError(conflict ? "conflict" : "storage", `complete multipart upload of ${key}: ${code}: ${message ?? ""}`);
    }
    return unquoteEtag(xmlText(xml, "ETag") ?? "");
  }

  /** Returns true, or the reason the abort failed (never throws: it runs on failure paths). */
  async #abortMultipartUpload(key: string, uploadId: string): Promise<true | string> {
    try {
      const response = await this.#request("DELETE", key, { query: [["uploadId", uploadId]] });
      if (response.ok || response.status === 404) {
        await discard(response);
        return true;
      }
      return (await failure("abort multipart upload of", key, response)).message;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /**
   * Sends one signed request, retrying 5xx, 429 and network errors with backoff. Returns the
   * final response whatever its status (callers map statuses to results and errors).
   * @throws {EdgesnapError} code "storage" when every attempt failed without a response.
   */
  async #request(method: string, key: string | null, init: RequestInit = {}, log?: AttemptLog): Promise<Response> {
    const query = init.query?.length
      ? `?${init.query.map(([name, value]) => (value === "" && name !== "prefix" ? encodeRfc3986(name) : `${encodeRfc3986(name)}=${encodeRfc3986(value)}`)).join("&")}`
      : "";
    const url = `${this.#base}${key === null ? "" : `/${key.split("/").map(encodePathSegment).join("/")}`}${query}`;
    const attempt = async (): Promise<Response> => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error(`no response within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      let response: Response;
      try {
        // Sign headers only: the payload is declared UNSIGNED-PAYLOAD (aws4fetch's default for
        // s3), so the body is sent as is, and integrity comes from x-amz-checksum-sha256.
        const signed = await this.#client.sign(url, { method, headers: init.headers });
        response = await fetch(signed.url, { method, headers: signed.headers, body: init.body as Uint8Array<ArrayBuffer> | string | undefined, signal: controller.signal });
      } finally {
        clearTimeout(timer);
      }
      if (isRetryableStatus(response.status)) throw new RetryableAnswer(response);
      return response;
    };
    try {
      return await withRetry(attempt, {
        ...this.#retry,
        delayFor: (error) => (error instanceof RetryableAnswer ? retryAfterMs(error.response.headers.get("retry-after")) : undefined),
        onRetry: (error, attemptNumber, delayMs) => {
          if (log && method !== "GET" && method !== "HEAD") log.ambiguous = true;
          if (error instanceof RetryableAnswer) void discard(error.response);
          this.#onRetry?.({ method, key, attempt: attemptNumber, delayMs, status: error instanceof RetryableAnswer ? error.response.status : null });
        },
      });
    } catch (error) {
      // Out of attempts: the last answer is returned whatever its status (callers map it).
      if (error instanceof RetryableAnswer) return error.response;
      const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
      throw new EdgesnapError("storage", `${method} ${key ?? this.#base}: ${reason} (after ${this.#retry.attempts} attempts)`, { cause: error });
    }
  }
}

/**
 * The ETag S3 and R2 give a multipart object: the MD5 of the parts' binary MD5s, then "-" and the
 * part count. https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
 */
function multipartEtag(parts: ReadonlyArray<{ etag: string }>): string {
  const digests = Buffer.concat(parts.map((part) => Buffer.from(part.etag, "hex")));
  return `${createHash("md5").update(digests).digest("hex")}-${parts.length}`;
}

/** A 5xx or 429 answer, thrown so the retry helper retries it. */
class RetryableAnswer extends Error {
  readonly response: Response;
  constructor(response: Response) {
    super(`answered ${response.status}`);
    this.response = response;
  }
}

/** encodeURIComponent plus the characters SigV4 also requires escaped (RFC 3986 unreserved only). */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

function encodePathSegment(segment: string): string {
  // "." and ".." segments would be collapsed by URL parsing and address another key.
  if (segment === "." || segment === "..") throw new EdgesnapError("storage", `object keys cannot contain a "${segment}" path segment`);
  return encodeRfc3986(segment);
}

function putHeaders(key: string, options: PutOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.contentType) headers["content-type"] = options.contentType;
  for (const [name, value] of Object.entries(options.customMetadata ?? {})) {
    // HTTP header names are case-insensitive, so S3 stores metadata keys lowercased; values must
    // be header-safe. Refuse what would not round-trip rather than store something else.
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
      throw new EdgesnapError("storage", `put ${key}: customMetadata key "${name}" must be lowercase letters, digits or -_.`);
    }
    if (!/^[\x20-\x7e]*$/.test(value)) {
      throw new EdgesnapError("storage", `put ${key}: customMetadata "${name}" must be printable ASCII`);
    }
    headers[`x-amz-meta-${name}`] = value;
  }
  return headers;
}

/** If-Match / If-None-Match for a compare-and-swap put. See RFC 9110 §13.1.1 and §13.1.2. */
function conditionalHeaders(options: PutOptions): Record<string, string> {
  if (options.ifMatch) return { "if-match": `"${options.ifMatch}"` };
  if (options.ifNoneMatch) return { "if-none-match": "*" };
  return {};
}

/**
 * The EdgesnapError for a failed response: "conflict" when a write precondition did not hold
 * (412; 409 ConditionalRequestConflict from a concurrent conditional write; 404 NoSuchKey for
 * If-Match on a missing key), "storage" otherwise, with the S3 error code and message.
 */
async function failure(operation: string, key: string, response: Response, put?: PutOptions): Promise<EdgesnapError> {
  let body = "";
  try {
    body = response.bodyUsed ? "" : await response.text();
  } catch {
    // the status is enough
  }
  const { code, message } = parseS3Error(body);
  const conditional = Boolean(put?.ifMatch || put?.ifNoneMatch);
  const conflict =
    conditional &&
    (response.status === 412 ||
      (response.status === 409 && code === "ConditionalRequestConflict") ||
      (response.status === 404 && Boolean(put?.ifMatch) && code !== "NoSuchUpload" && code !== "NoSuchBucket"));
  const detail = [response.status, code, message].filter(Boolean).join(" ");
  return new EdgesnapError(conflict ? "conflict" : "storage", `${operation} ${key}: ${conflict ? "precondition failed: " : ""}${detail}`);
}

function infoFromHeaders(key: string, headers: Headers): ObjectInfo {
  const customMetadata: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name.startsWith("x-amz-meta-")) customMetadata[name.slice("x-amz-meta-".length)] = value;
  });
  return {
    key,
    etag: unquoteEtag(headers.get("etag") ?? ""),
    size: Number(headers.get("content-length") ?? 0),
    uploaded: dateHeader(headers.get("last-modified")),
    customMetadata,
  };
}

function dateHeader(value: string | null): Date {
  const date = value ? new Date(value) : new Date();
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

async function discard(response: Response): Promise<void> {
  if (response.body && !response.bodyUsed) await response.body.cancel().catch(() => {});
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function verifySha256(key: string, actual: string, expected: string): void {
  if (actual !== expected.toLowerCase()) {
    throw new EdgesnapError("storage", `put ${key}: sha256 mismatch: body is ${actual}, expected ${expected}`);
  }
}

async function* sliceParts(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) yield bytes.subarray(offset, offset + size);
}

/** A part of a streamed body, and whether the body ends with it. */
interface StreamPart {
  bytes: Uint8Array;
  last: boolean;
}

/**
 * Cuts a stream into parts of exactly `size` bytes (the last may be shorter), holding one part and
 * one read-ahead chunk (read to tell whether the part is the last). Feeds `hash` as it reads.
 * Cancels the stream if the consumer stops early.
 */
async function* readParts(stream: ReadableStream<Uint8Array>, size: number, hash: ReturnType<typeof createHash> | undefined): AsyncGenerator<StreamPart> {
  const reader = stream.getReader();
  let finished = false;
  let ahead: Uint8Array | undefined;
  const read = async (): Promise<Uint8Array | undefined> => {
    if (ahead) {
      const chunk = ahead;
      ahead = undefined;
      return chunk;
    }
    const { done, value } = await reader.read();
    if (done) return undefined;
    hash?.update(value);
    return value;
  };
  try {
    for (;;) {
      const part = new Uint8Array(size);
      let filled = 0;
      let chunk: Uint8Array | undefined;
      while (filled < size && (chunk = await read()) !== undefined) {
        const take = Math.min(size - filled, chunk.byteLength);
        part.set(chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.byteLength) ahead = chunk.subarray(take);
      }
      if (filled === 0) {
        finished = true;
        return;
      }
      ahead ??= await read();
      finished = ahead === undefined;
      yield { bytes: filled === size ? part : part.subarray(0, filled), last: finished };
      if (finished) return;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

async function nextPart(key: string, parts: AsyncGenerator<StreamPart>): Promise<StreamPart | undefined> {
  try {
    const next = await parts.next();
    return next.done ? undefined : next.value;
  } catch (error) {
    throw new EdgesnapError("storage", `put ${key}: reading the body failed: ${(error as Error).message}`, { cause: error });
  }
}

/** The parts of a multipart upload: the first one already read, then the rest of the stream. */
async function* withFirst(first: Uint8Array, rest: AsyncGenerator<StreamPart>, key: string): AsyncGenerator<Uint8Array> {
  try {
    yield first;
    for (;;) {
      const part = await nextPart(key, rest);
      if (part === undefined) return;
      yield part.bytes;
      if (part.last) return;
    }
  } finally {
    await rest.return(undefined);
  }
}
