/**
 * A real S3-protocol server for the S3 driver's tests: s3rver on 127.0.0.1 (free port, temp dir, in
 * its own process: see s3rver-process.ts), behind an HTTP proxy that adds what s3rver lacks:
 *
 * - conditional writes as AWS documents them (s3rver ignores If-Match / If-None-Match on writes):
 *   `If-None-Match: *` and `If-Match: <etag>` on PutObject and CompleteMultipartUpload, checked
 *   when the write commits (its body fully received) atomically with the write, so of two racing
 *   conditional writes the first to finish wins and the other gets 412; a DELETE of the key that
 *   succeeds while a conditional write is in flight (for a multipart upload: any time since
 *   CreateMultipartUpload) makes it fail with 409 ConditionalRequestConflict (If-None-Match) or
 *   404 NoSuchKey (If-Match), and discards such a multipart upload; any other condition value is
 *   501 NotImplemented;
 * - AbortMultipartUpload, which s3rver does not implement (405), and 404 NoSuchUpload for an
 *   upload that is gone (s3rver answers 500);
 * - the errors it answers itself shaped like S3's (Code, Message, the code's detail element,
 *   Resource, RequestId, HostId, and the x-amz-request-id / x-amz-id-2 headers);
 * - fault injection: answer a status (503, 403, ...) or reset the connection instead of
 *   forwarding, or forward and then reset (the request took effect, its answer was lost);
 * - a request log, to assert retries and AbortMultipartUpload calls.
 *
 * Each rule, its source and where this stand-in differs from AWS and R2 are in
 * docs/s3-compatibility.md; test/storage/s3-server.test.ts checks them over HTTP.
 *
 * Requests are forwarded byte for byte (headers included), so SigV4 signatures still verify. Object
 * writes and DeleteObjects are buffered until their body is complete, then committed one at a time:
 * that is what makes a condition's check and its write atomic. s3rver accepts and ignores
 * x-amz-checksum-sha256; the driver checks a given sha256 itself.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { escapeXml, xmlElements, xmlText } from "../../compute/storage/s3-xml.ts";

export const S3_TEST_BUCKET = "snapshots";
/** s3rver's built-in credentials. */
export const S3_TEST_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface LoggedRequest {
  method: string;
  /** Path and query as sent, e.g. `/snapshots/a/b.json?uploadId=...`. */
  url: string;
  status: number | "reset";
  headers: http.IncomingHttpHeaders;
  /** Body bytes received from the client (counted as they arrive). */
  bytes: number;
}

export interface FaultRule {
  /** Which requests to hit. Default: every request. */
  match?: (request: { method: string; url: string }) => boolean;
  /**
   * A status to answer with, "reset" to drop the connection, "forward-then-reset" to apply and drop
   * the answer, "hold" to forward it only once `until` settles.
   */
  respond: number | "reset" | "forward-then-reset" | "hold";
  /** With "hold": when the request may go on. */
  until?: Promise<unknown>;
  /** How many matching requests to hit. Default: unlimited. */
  times?: number;
  /** Extra headers on an injected status answer (e.g. Retry-After). */
  headers?: Record<string, string>;
}

export interface S3TestServer {
  /** The proxy's URL: the endpoint to give the driver. */
  endpoint: string;
  requests: LoggedRequest[];
  /** Adds a fault; faults apply in the order added, each until its `times` run out. */
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Whether s3rver still holds the parts of a multipart upload (i.e. it was neither completed nor aborted). */
  hasPendingUpload(uploadId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** An error answer in S3's terms: status, code, message and the detail elements S3 adds for that code. */
export interface S3ErrorAnswer {
  status: number;
  code: string;
  message: string;
  /** Elements between Message and Resource, in order, e.g. `[["Condition", "If-Match"]]`. */
  details?: Array<[string, string]>;
}

type Condition = "If-Match" | "If-None-Match";

const preconditionFailed = (condition: Condition): S3ErrorAnswer => ({
  status: 412,
  code: "PreconditionFailed",
  message: "At least one of the pre-conditions you specified did not hold",
  details: [["Condition", condition]],
});

const conditionalRequestConflict = (): S3ErrorAnswer => ({
  status: 409,
  code: "ConditionalRequestConflict",
  message:
    "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.",
});

const noSuchKey = (key: string): S3ErrorAnswer => ({
  status: 404,
  code: "NoSuchKey",
  message: "The specified key does not exist.",
  details: [["Key", key]],
});

const noSuchUpload = (uploadId: string): S3ErrorAnswer => ({
  status: 404,
  code: "NoSuchUpload",
  message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
  details: [["UploadId", uploadId]],
});

const notImplemented = (header: Condition | null, additionalMessage: string): S3ErrorAnswer => ({
  status: 501,
  code: "NotImplemented",
  message: "A header you provided implies functionality that is not implemented",
  details: [...(header ? [["Header", header] as [string, string]] : []), ["additionalMessage", additionalMessage]],
});

const INJECTED_CODES: Record<number, string> = { 403: "AccessDenied", 429: "TooManyRequests", 503: "SlowDown" };

const injected = (status: number): S3ErrorAnswer => ({
  status,
  code: INJECTED_CODES[status] ?? "InternalError",
  message: "injected by the test server",
});

/**
 * The XML body of an S3 error: Code, Message, the code's own detail elements, then the Resource and
 * RequestId every REST error response carries and the HostId S3 adds.
 * See https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
export function s3ErrorXml(error: S3ErrorAnswer, resource: string, requestId: string, hostId: string): string {
  const elements: Array<[string, string]> = [
    ["Code", error.code],
    ["Message", error.message],
    ...(error.details ?? []),
    ["Resource", resource],
    ["RequestId", requestId],
    ["HostId", hostId],
  ];
  const body = elements.map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join("");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${body}</Error>`;
}

/**
 * Refuses, before the body is read, the conditional headers AWS does not take on an object write:
 * If-None-Match other than `*`, If-Match `*` (an ETag is expected), or both at once.
 * See https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
 */
export function refuseConditionalHeaders(headers: http.IncomingHttpHeaders): S3ErrorAnswer | null {
  const ifMatch = headers["if-match"];
  const ifNoneMatch = headers["if-none-match"];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    return notImplemented(null, "Multiple conditional request headers present in the request");
  }
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== "*") {
    return notImplemented("If-None-Match", "We don't accept the provided value of If-None-Match header for this API");
  }
  if (ifMatch !== undefined && ifMatch.trim() === "*") {
    return notImplemented("If-Match", "We don't accept the provided value of If-Match header for this API");
  }
  return null;
}

/** What a conditional write is checked against when it commits. */
export interface CommitState {
  key: string;
  /** The current object's ETag without quotes, or null when there is none. */
  currentEtag: string | null;
  /** Whether a DELETE of the key succeeded while the write was in flight. */
  deletedDuringWrite: boolean;
}

/**
 * The error a write's If-None-Match / If-Match yields when it commits, or null if it may proceed.
 * ETags compare without their quotes. Headers must have passed refuseConditionalHeaders.
 * See https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
export function evaluateWriteConditions(headers: http.IncomingHttpHeaders, state: CommitState): S3ErrorAnswer | null {
  if (headers["if-none-match"] !== undefined) {
    if (state.deletedDuringWrite) return conditionalRequestConflict();
    return state.currentEtag === null ? null : preconditionFailed("If-None-Match");
  }
  const ifMatch = headers["if-match"];
  if (ifMatch !== undefined) {
    if (state.deletedDuringWrite || state.currentEtag === null) return noSuchKey(state.key);
    return unquote(ifMatch) === state.currentEtag ? null : preconditionFailed("If-Match");
  }
  return null;
}

/** Starts s3rver in a child process and the proxy in front of it; `close()` stops both. */
export async function startS3TestServer(): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(os.tmpdir(), "edgesnap-s3rver-"));
  const script = fileURLToPath(new URL("./s3rver-process.ts", import.meta.url));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", script, directory, S3_TEST_BUCKET], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  let upstream: Upstream;
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([once(lines, "line"), exited.then(() => [null])])) as [string | null];
    if (!line) throw new Error("s3rver exited before listening");
    upstream = { host: "127.0.0.1", port: (JSON.parse(line) as { port: number }).port };
  } catch (error) {
    child.kill();
    await rm(directory, { recursive: true, force: true });
    throw error;
  }

  const proxy = new ConditionalWriteProxy(upstream, path.join(directory, S3_TEST_BUCKET, "._S3rver_uploads"));
  const server = http.createServer((req, res) => proxy.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: proxy.requests,
    inject: (rule) => proxy.inject(rule),
    clearFaults: () => proxy.clearFaults(),
    hasPendingUpload: (uploadId) => proxy.uploadExists(uploadId),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      child.stdin!.end();
      if (child.exitCode === null) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

interface Upstream {
  host: string;
  port: number;
}

/** One request on its way through the proxy. */
interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  log: LoggedRequest;
  url: URL;
  /** The object key (decoded), or null for a bucket-level request. */
  key: string | null;
  /** Apply the request, then drop the connection instead of answering. */
  dropAnswer: boolean;
}

type Operation =
  | "put-object"
  | "complete-upload"
  | "create-upload"
  | "upload-part"
  | "abort-upload"
  | "delete-object"
  | "read-object"
  | "delete-objects"
  | "other";

function classify(method: string, url: URL, key: string | null, headers: http.IncomingHttpHeaders): Operation {
  const query = url.searchParams;
  if (method === "PUT" && query.has("uploadId")) return "upload-part";
  if (method === "PUT" && key !== null && headers["x-amz-copy-source"] === undefined) return "put-object";
  if (method === "POST" && query.has("uploads")) return "create-upload";
  if (method === "POST" && query.has("uploadId")) return "complete-upload";
  if (method === "POST" && query.has("delete")) return "delete-objects";
  if (method === "DELETE" && query.has("uploadId")) return "abort-upload";
  if (method === "DELETE" && key !== null) return "delete-object";
  if ((method === "GET" || method === "HEAD") && key !== null && query.size === 0) return "read-object";
  return "other";
}

/** Runs async sections one at a time, in call order. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(section);
    this.#tail = result.catch(() => {});
    return result;
  }
}

class ConditionalWriteProxy {
  readonly requests: LoggedRequest[] = [];
  #faults: Array<FaultRule & { left: number }> = [];
  readonly #upstream: Upstream;
  readonly #uploadsDir: string;
  /** Orders events: a write was overtaken by a DELETE when the DELETE's tick is later than the write's start. */
  #clock = 0;
  readonly #lastDelete = new Map<string, number>();
  readonly #uploadStarts = new Map<string, number>();
  /** Object writes and deletes commit one at a time, so a condition's check and its write are atomic. */
  readonly #commits = new Mutex();

  constructor(upstream: Upstream, uploadsDir: string) {
    this.#upstream = upstream;
    this.#uploadsDir = uploadsDir;
  }

  inject(rule: FaultRule): void {
    this.#faults.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  async uploadExists(uploadId: string): Promise<boolean> {
    // Upload ids are s3rver's hex; anything else must not become a path.
    return /^[0-9a-f]+$/.test(uploadId) && exists(path.join(this.#uploadsDir, uploadId));
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? "GET";
    const log: LoggedRequest = { method, url: req.url ?? "/", status: 0, headers: req.headers, bytes: 0 };
    this.requests.push(log);
    const fault = this.#faults.find((rule) => rule.left > 0 && (rule.match?.({ method, url: log.url }) ?? true));
    if (fault) fault.left -= 1;
    if (fault?.respond === "reset") {
      log.status = "reset";
      req.socket.destroy();
      return;
    }
    const url = new URL(log.url, "http://proxy");
    const exchange: Exchange = { req, res, log, url, key: objectKey(url), dropAnswer: fault?.respond === "forward-then-reset" };
    if (fault?.respond === "hold") {
      req.pause();
      void (fault.until ?? Promise.resolve()).finally(() => {
        req.resume();
        this.#dispatch(exchange).catch(() => res.destroy());
      });
      return;
    }
    if (typeof fault?.respond === "number") {
      req.resume();
      this.#answer(exchange, injected(fault.respond), fault.headers);
      return;
    }
    this.#dispatch(exchange).catch((error: unknown) => {
      // The client went away mid-body, or s3rver could not be reached: nothing to answer.
      if (log.status === 0) log.status = "reset";
      res.destroy(error instanceof Error ? error : undefined);
    });
  }

  async #dispatch(exchange: Exchange): Promise<void> {
    const { req, url, key } = exchange;
    switch (classify(req.method ?? "GET", url, key, req.headers)) {
      case "put-object":
        return this.#write(exchange, this.#tick(), null);
      case "complete-upload": {
        const uploadId = url.searchParams.get("uploadId") ?? "";
        return this.#write(exchange, this.#uploadStarts.get(uploadId) ?? this.#tick(), uploadId);
      }
      case "create-upload":
        return this.#createUpload(exchange);
      case "upload-part":
        return this.#uploadPart(exchange);
      case "abort-upload":
        return this.#commits.run(() => this.#abortUpload(exchange));
      case "delete-object":
        return this.#commits.run(() => this.#deleteObject(exchange));
      case "delete-objects":
        return this.#deleteObjects(exchange);
      case "read-object":
        // S3 and R2 replace an object atomically: a read sees the old bytes or the new ones. s3rver
        // rewrites its file in place, so reads wait for the commit in progress and hold off the next.
        await this.#commits.run(() => this.#forward(exchange, null));
        return;
      case "other":
        await this.#forward(exchange, null);
    }
  }

  #tick(): number {
    this.#clock += 1;
    return this.#clock;
  }

  /**
   * PutObject (uploadId null) or CompleteMultipartUpload: refuse unsupported conditions at once,
   * receive the whole body, then check the conditions and forward, as one commit.
   */
  async #write(exchange: Exchange, startedAt: number, uploadId: string | null): Promise<void> {
    const { req, key } = exchange;
    const refused = refuseConditionalHeaders(req.headers);
    if (refused) {
      req.resume();
      this.#answer(exchange, refused);
      return;
    }
    const body = await readBody(req, exchange.log);
    await this.#commits.run(async () => {
      if (uploadId !== null && !(await this.uploadExists(uploadId))) {
        this.#answer(exchange, noSuchUpload(uploadId));
        return;
      }
      if (req.headers["if-match"] !== undefined || req.headers["if-none-match"] !== undefined) {
        const deletedDuringWrite = (this.#lastDelete.get(key ?? "") ?? 0) > startedAt;
        const currentEtag = await this.#currentEtag(exchange.url.pathname);
        const failed = evaluateWriteConditions(req.headers, { key: key ?? "", currentEtag, deletedDuringWrite });
        if (failed) {
          // After a concurrent delete "the entire multipart upload must be re-initiated": it is gone.
          if (uploadId !== null && deletedDuringWrite) await this.#discardUpload(uploadId);
          this.#answer(exchange, failed);
          return;
        }
      }
      const answer = await this.#forward(exchange, body);
      if (uploadId !== null && isSuccess(answer.status)) this.#uploadStarts.delete(uploadId);
    });
  }

  async #createUpload(exchange: Exchange): Promise<void> {
    const startedAt = this.#tick();
    const answer = await this.#forward(exchange, null, true);
    const uploadId = isSuccess(answer.status) ? xmlText(answer.body, "UploadId") : undefined;
    if (uploadId) this.#uploadStarts.set(uploadId, startedAt);
  }

  async #uploadPart(exchange: Exchange): Promise<void> {
    const uploadId = exchange.url.searchParams.get("uploadId") ?? "";
    if (await this.uploadExists(uploadId)) {
      await this.#forward(exchange, null);
      return;
    }
    exchange.req.resume();
    this.#answer(exchange, noSuchUpload(uploadId));
  }

  /** s3rver does not implement AbortMultipartUpload: remove the upload's parts here. */
  async #abortUpload(exchange: Exchange): Promise<void> {
    const uploadId = exchange.url.searchParams.get("uploadId") ?? "";
    exchange.req.resume();
    if (!(await this.uploadExists(uploadId))) {
      this.#answer(exchange, noSuchUpload(uploadId));
      return;
    }
    await this.#discardUpload(uploadId);
    exchange.log.status = exchange.dropAnswer ? "reset" : 204;
    if (exchange.dropAnswer) exchange.req.socket.destroy();
    else exchange.res.writeHead(204, requestIdHeaders()).end();
  }

  async #discardUpload(uploadId: string): Promise<void> {
    await rm(path.join(this.#uploadsDir, uploadId), { recursive: true, force: true });
    this.#uploadStarts.delete(uploadId);
  }

  async #deleteObject(exchange: Exchange): Promise<void> {
    const answer = await this.#forward(exchange, null);
    if (isSuccess(answer.status)) this.#lastDelete.set(exchange.key!, this.#tick());
  }

  async #deleteObjects(exchange: Exchange): Promise<void> {
    const body = await readBody(exchange.req, exchange.log);
    await this.#commits.run(async () => {
      const answer = await this.#forward(exchange, body, true);
      if (!isSuccess(answer.status)) return;
      for (const deleted of xmlElements(answer.body, "Deleted")) {
        const key = xmlText(deleted, "Key");
        if (key !== undefined) this.#lastDelete.set(key, this.#tick());
      }
    });
  }

  /**
   * Sends the request to s3rver (the buffered `body`, or the client's stream when null) and relays
   * the answer, or drops the connection once s3rver has answered when the exchange says so.
   * Resolves when s3rver's answer has ended, with its status and, if `capture`, its body.
   */
  #forward(exchange: Exchange, body: Buffer | null, capture = false): Promise<{ status: number; body: string }> {
    const { req, res, log } = exchange;
    return new Promise((resolve, reject) => {
      const options = { ...this.#upstream, method: req.method, path: log.url, headers: req.headers };
      const upstreamRequest = http.request(options, (response) => {
        const status = response.statusCode ?? 502;
        const chunks: Buffer[] = [];
        if (capture) response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          if (exchange.dropAnswer) {
            log.status = "reset";
            req.socket.destroy();
          }
          resolve({ status, body: Buffer.concat(chunks).toString("utf8") });
        });
        if (exchange.dropAnswer) {
          response.resume();
          return;
        }
        log.status = status;
        res.writeHead(status, response.headers);
        response.pipe(res);
      });
      upstreamRequest.on("error", reject);
      if (body) {
        upstreamRequest.end(body);
        return;
      }
      req.on("data", (chunk: Buffer) => (log.bytes += chunk.byteLength));
      req.pipe(upstreamRequest);
    });
  }

  #answer(exchange: Exchange, error: S3ErrorAnswer, extraHeaders: Record<string, string> = {}): void {
    const { res, log } = exchange;
    if (exchange.dropAnswer) {
      log.status = "reset";
      exchange.req.socket.destroy();
      return;
    }
    log.status = error.status;
    const headers = requestIdHeaders();
    const resource = safeDecode(exchange.url.pathname);
    const body = s3ErrorXml(error, resource, headers["x-amz-request-id"], headers["x-amz-id-2"]);
    res.writeHead(error.status, { ...headers, ...extraHeaders, "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  /** The object's unquoted ETag in s3rver, or null when there is none (anonymous HEAD). */
  #currentEtag(pathname: string): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const request = http.request({ ...this.#upstream, method: "HEAD", path: pathname }, (response) => {
        response.resume();
        const etag = response.headers.etag;
        resolve(response.statusCode === 200 && etag ? unquote(etag) : null);
      });
      request.on("error", reject);
      request.end();
    });
  }
}

/** Collects a request body, counting its bytes into the log as they arrive. Rejects if the client goes away. */
async function readBody(req: http.IncomingMessage, log: LoggedRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
    log.bytes += (chunk as Buffer).byteLength;
  }
  return Buffer.concat(chunks);
}

function objectKey(url: URL): string | null {
  const prefix = `/${S3_TEST_BUCKET}/`;
  if (!url.pathname.startsWith(prefix) || url.pathname.length === prefix.length) return null;
  return safeDecode(url.pathname.slice(prefix.length));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, "$1");
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** The request ids S3 puts on every answer (x-amz-request-id, x-amz-id-2), fresh per answer. */
function requestIdHeaders(): { "x-amz-request-id": string; "x-amz-id-2": string } {
  return { "x-amz-request-id": randomBytes(8).toString("hex").toUpperCase(), "x-amz-id-2": randomBytes(48).toString("base64") };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
