/**
 * A real S3-protocol server for the S3 driver's tests: s3rver on 127.0.0.1 (free port, temp dir),
 * behind a small HTTP proxy that adds what s3rver lacks and what the tests need to provoke:
 *
 * - AbortMultipartUpload, which s3rver does not implement (405): the proxy deletes the upload's
 *   parts from s3rver's directory and answers 204 (404 NoSuchUpload for an unknown upload);
 * - conditional writes: s3rver ignores If-Match / If-None-Match on PUT (and on
 *   CompleteMultipartUpload), so the proxy enforces them the way R2 and S3 do (412
 *   PreconditionFailed), serializing writes per key so a check and its write are atomic;
 * - fault injection: answer a status (503, 403, ...) or reset the connection instead of
 *   forwarding, or forward and then reset (the write happened, the answer was lost);
 * - a request log, to assert retries and AbortMultipartUpload calls.
 *
 * s3rver accepts and ignores x-amz-checksum-sha256; the driver checks a given sha256 itself before
 * sending (single PUT) or before completing (multipart), so the checksum tests hold here too.
 *
 * Requests are forwarded byte for byte (headers included), so SigV4 signatures still verify.
 * s3rver itself runs in a child process (see s3rver-process.ts for why).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const S3_TEST_BUCKET = "snapshots";
/** s3rver's built-in credentials. */
export const S3_TEST_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface LoggedRequest {
  method: string;
  /** Path and query as sent, e.g. `/snapshots/a/b.json?uploadId=...`. */
  url: string;
  status: number | "reset";
  headers: http.IncomingHttpHeaders;
  /** Body bytes received from the client (counted as they are forwarded). */
  bytes: number;
}

export interface FaultRule {
  /** Which requests to hit. Default: every request. */
  match?: (request: { method: string; url: string }) => boolean;
  /** A status to answer with, "reset" to drop the connection, "forward-then-reset" to apply and drop the answer. */
  respond: number | "reset" | "forward-then-reset";
  /** How many matching requests to hit. Default: unlimited. */
  times?: number;
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

export async function startS3TestServer(): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(os.tmpdir(), "edgesnap-s3rver-"));
  const script = fileURLToPath(new URL("./s3rver-process.ts", import.meta.url));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", script, directory, S3_TEST_BUCKET], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  const uploadsDir = path.join(directory, S3_TEST_BUCKET, "._S3rver_uploads");
  let upstream: { address: string; port: number };
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([once(lines, "line"), exited.then(() => [null])])) as [string | null];
    if (!line) throw new Error("s3rver exited before listening");
    upstream = { address: "127.0.0.1", port: (JSON.parse(line) as { port: number }).port };
  } catch (error) {
    child.kill();
    await rm(directory, { recursive: true, force: true });
    throw error;
  }

  const requests: LoggedRequest[] = [];
  let faults: Array<FaultRule & { left: number }> = [];
  const locks = new Map<string, Promise<void>>();

  async function abortUpload(uploadId: string): Promise<boolean> {
    if (!/^[0-9a-f]+$/.test(uploadId)) return false;
    const dir = path.join(uploadsDir, uploadId);
    if (!(await exists(dir))) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  const proxy = http.createServer((req, res) => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const log: LoggedRequest = { method, url, status: 0, headers: req.headers, bytes: 0 };
    requests.push(log);

    const fault = faults.find((rule) => rule.left > 0 && (rule.match?.({ method, url }) ?? true));
    if (fault) fault.left -= 1;
    if (fault && fault.respond === "reset") {
      log.status = "reset";
      req.socket.destroy();
      return;
    }
    if (fault && typeof fault.respond === "number") {
      log.status = fault.respond;
      req.resume();
      sendError(res, fault.respond, fault.respond === 403 ? "AccessDenied" : "InternalError", "injected by the test server");
      return;
    }
    const dropAnswer = fault?.respond === "forward-then-reset";

    const { pathname, searchParams } = new URL(url, "http://proxy");
    const uploadId = searchParams.get("uploadId");
    if (method === "DELETE" && uploadId) {
      req.resume();
      void abortUpload(uploadId).then((found) => {
        log.status = found ? 204 : 404;
        if (found) res.writeHead(204).end();
        else sendError(res, 404, "NoSuchUpload", "The specified multipart upload does not exist.");
      });
      return;
    }
    const isWrite = (method === "PUT" && !searchParams.has("uploadId")) || (method === "POST" && searchParams.has("uploadId"));
    const ifMatch = req.headers["if-match"];
    const ifNoneMatch = req.headers["if-none-match"];

    const forward = (release: () => void) => {
      const upstreamRequest = http.request(
        { host: upstream.address, port: upstream.port, method, path: url, headers: req.headers },
        (upstreamResponse) => {
          if (dropAnswer) {
            upstreamResponse.resume();
            upstreamResponse.on("end", () => {
              log.status = "reset";
              release();
              req.socket.destroy();
            });
            return;
          }
          log.status = upstreamResponse.statusCode ?? 0;
          res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(res);
          upstreamResponse.on("end", release);
        },
      );
      upstreamRequest.on("error", (error) => {
        release();
        res.destroy(error);
      });
      req.on("data", (chunk: Buffer) => (log.bytes += chunk.byteLength));
      req.pipe(upstreamRequest);
    };

    if (!isWrite) {
      forward(() => {});
      return;
    }
    // Serialize writes per key so "check the precondition, then write" is atomic.
    const previous = locks.get(pathname) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => current);
    locks.set(pathname, chained);
    void chained.then(() => {
      if (locks.get(pathname) === chained) locks.delete(pathname);
    });
    void previous.then(async () => {
      if (ifMatch || ifNoneMatch) {
        const etag = await currentEtag(upstream, pathname);
        const wanted = String(ifMatch ?? "").split(",").map((value) => value.trim().replace(/^"|"$/g, ""));
        const holds = ifNoneMatch ? etag === null : etag !== null && (wanted.includes("*") || wanted.includes(etag));
        if (!holds) {
          log.status = 412;
          req.resume();
          sendError(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
          release();
          return;
        }
      }
      forward(release);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as { port: number };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    inject(rule) {
      faults.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY });
    },
    clearFaults() {
      faults = [];
    },
    async hasPendingUpload(uploadId) {
      return exists(path.join(uploadsDir, uploadId));
    },
    async close() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
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

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The object's unquoted ETag in s3rver, or null when it does not exist (anonymous HEAD). */
function currentEtag(upstream: { address: string; port: number }, pathname: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: upstream.address, port: upstream.port, method: "HEAD", path: pathname }, (response) => {
      response.resume();
      const etag = response.headers.etag;
      resolve(response.statusCode === 200 && etag ? etag.replace(/^"|"$/g, "") : null);
    });
    request.on("error", reject);
    request.end();
  });
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
