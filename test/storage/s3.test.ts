/**
 * The S3 driver against a real S3-protocol server (s3rver on 127.0.0.1, behind the proxy in
 * s3-server.ts that enforces conditional writes and injects faults): first the shared storage
 * contract, then what only this driver does: multipart uploads holding one part, aborting a
 * failed upload, checksums on the wire, retries with backoff, and no retry on other 4xx.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { EdgesnapError } from "../../compute/errors.ts";
import { openS3Store, type S3StoreOptions } from "../../compute/storage/s3.ts";
import { sha256Hex } from "../../compute/storage/hash.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { describeStoreContract, patternBytes, streamOf } from "./contract.ts";
import { S3_TEST_BUCKET, S3_TEST_CREDENTIALS, startS3TestServer, type LoggedRequest, type S3TestServer } from "./s3-server.ts";

const MiB = 1024 * 1024;
/** Small limits so a 12 MiB body exercises multipart: parts of the 5 MiB minimum. */
const PART = 5 * MiB;

let server: S3TestServer;

beforeAll(async () => {
  server = await startS3TestServer();
});
afterAll(async () => {
  await server?.close();
});

function storeOptions(overrides: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    endpoint: server.endpoint,
    bucket: S3_TEST_BUCKET,
    region: "auto",
    ...S3_TEST_CREDENTIALS,
    multipartThresholdBytes: PART,
    partSizeBytes: PART,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 },
    ...overrides,
  };
}

describeStoreContract("s3 (s3rver)", {
  open: () => openS3Store(storeOptions()),
  largeBodyBytes: 12 * MiB + 123,
});

describe("s3 driver", () => {
  let store: ObjectStore;
  beforeAll(async () => {
    store = await openS3Store(storeOptions());
  });
  afterEach(() => {
    server.clearFaults();
  });

  const freshKey = (name: string) => `s3-${randomUUID().slice(0, 8)}/${name}`;
  /** Requests the server logged for one key since `from`. */
  const requestsFor = (key: string, from = 0): LoggedRequest[] =>
    server.requests.slice(from).filter((request) => decodeURIComponent(request.url.split("?")[0]!) === `/${S3_TEST_BUCKET}/${key}`);
  const isPart = (request: LoggedRequest) => request.method === "PUT" && request.url.includes("partNumber=");
  const isAbort = (request: LoggedRequest) => request.method === "DELETE" && request.url.includes("uploadId=");
  /** Asserts the key's multipart uploads since `from` were all aborted: one abort each, no parts left. */
  async function expectUploadsAborted(key: string, from: number): Promise<void> {
    const requests = requestsFor(key, from);
    const ids = new Set(requests.map((request) => new URL(request.url, "http://x").searchParams.get("uploadId")).filter((id) => id !== null));
    expect(ids.size).toBe(1);
    expect(requests.filter(isAbort).map((request) => request.status)).toEqual([204]);
    for (const id of ids) expect(await server.hasPendingUpload(id)).toBe(false);
  }

  async function expectError(promise: Promise<unknown>, code: string): Promise<EdgesnapError> {
    const error = await promise.then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(EdgesnapError);
    expect((error as EdgesnapError).code).toBe(code);
    return error as EdgesnapError;
  }

  describe("uploads", () => {
    test("a streamed body that ends within one part goes up in one PUT with its sha256 as x-amz-checksum-sha256", async () => {
      const key = freshKey("data.json");
      const from = server.requests.length;
      const body = patternBytes(PART);
      await store.put(key, streamOf(body), { sha256: sha256Hex(body) });
      const requests = requestsFor(key, from);
      expect(requests.map((request) => request.method)).toEqual(["PUT"]);
      expect(requests[0]!.bytes).toBe(PART);
      expect(requests[0]!.headers["x-amz-checksum-sha256"]).toBe(Buffer.from(sha256Hex(body), "hex").toString("base64"));
    });

    test("a streamed body longer than one part is uploaded as equal parts, then completed", async () => {
      const key = freshKey("large.json");
      const from = server.requests.length;
      const body = patternBytes(2 * PART + 1000);
      const info = (await store.put(key, streamOf(body)))!;
      const requests = requestsFor(key, from);
      expect(requests.map((request) => `${request.method} ${request.url.split("?")[1]?.replace(/=[0-9a-f]{16,}/, "=ID")}`)).toEqual([
        "POST uploads",
        "PUT partNumber=1&uploadId=ID",
        "PUT partNumber=2&uploadId=ID",
        "PUT partNumber=3&uploadId=ID",
        "POST uploadId=ID",
      ]);
      expect(requests.filter(isPart).map((request) => request.bytes)).toEqual([PART, PART, 1000]);
      expect(info.size).toBe(body.byteLength);
      expect((await store.head(key))!.etag).toBe(info.etag);
    });

    test("a Uint8Array body past the threshold is also uploaded in parts", async () => {
      const key = freshKey("large.bin");
      const from = server.requests.length;
      await store.put(key, patternBytes(PART + 10));
      expect(requestsFor(key, from).filter(isPart).map((request) => request.bytes)).toEqual([PART, 10]);
    });

    test("a streamed upload never holds more than one part (plus one chunk) ahead of what the server received", async () => {
      const key = freshKey("huge.json");
      const total = 8 * PART;
      const chunk = 256 * 1024;
      let produced = 0;
      let maxAhead = 0;
      const from = server.requests.length;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (produced >= total) {
            controller.close();
            return;
          }
          const received = requestsFor(key, from).reduce((sum, request) => sum + request.bytes, 0);
          maxAhead = Math.max(maxAhead, produced - received);
          controller.enqueue(new Uint8Array(chunk).fill(produced / chunk));
          produced += chunk;
        },
      }, { highWaterMark: 0 });
      const info = (await store.put(key, body))!;
      expect(info.size).toBe(total);
      expect(requestsFor(key, from).filter(isPart)).toHaveLength(8);
      // The part being uploaded, plus the one chunk read ahead to learn whether the body goes on.
      expect(maxAhead).toBeLessThanOrEqual(PART + chunk);
    }, 120_000);

    test("a part that fails for good aborts the multipart upload and stores nothing", async () => {
      const key = freshKey("large.json");
      const from = server.requests.length;
      server.inject({ match: ({ method, url }) => method === "PUT" && url.includes("partNumber=2"), respond: 403 });
      const error = await expectError(store.put(key, streamOf(patternBytes(3 * PART))), "storage");
      expect(error.message).toMatch(/part 2.*403/);
      await expectUploadsAborted(key, from);
      const requests = requestsFor(key, from);
      expect(requests.some((request) => request.method === "POST" && request.url.includes("uploadId="))).toBe(false);
      expect(await store.head(key)).toBeNull();
    });

    test("a body stream that errors mid-upload aborts the multipart upload and stores nothing", async () => {
      const key = freshKey("large.json");
      const from = server.requests.length;
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 2 * PART + MiB) {
            controller.error(new Error("serializer crashed"));
            return;
          }
          controller.enqueue(new Uint8Array(MiB));
          sent += MiB;
        },
      });
      const error = await expectError(store.put(key, body), "storage");
      expect(error.message).toMatch(/serializer crashed/);
      await expectUploadsAborted(key, from);
      expect(await store.head(key)).toBeNull();
    });

    test("a large body whose sha256 does not match is aborted before completion", async () => {
      const key = freshKey("large.json");
      const from = server.requests.length;
      const error = await expectError(store.put(key, streamOf(patternBytes(PART + 1)), { sha256: sha256Hex("other") }), "storage");
      expect(error.message).toMatch(/sha256 mismatch/);
      await expectUploadsAborted(key, from);
      expect(await store.head(key)).toBeNull();
    });

    test("a conditional multipart upload that loses the race answers null, is aborted, and the old object stays", async () => {
      const key = freshKey("manifest.json");
      await store.put(key, "existing");
      const from = server.requests.length;
      expect(await store.put(key, streamOf(patternBytes(PART + 1)), { ifNoneMatch: "*" })).toBeNull();
      await expectUploadsAborted(key, from);
      expect(await (await store.get(key))!.text()).toBe("existing");
    });

    test("customMetadata keys that S3 would lowercase are refused rather than silently changed", async () => {
      await expectError(store.put(freshKey("x"), "x", { customMetadata: { rowCount: "1" } }), "storage");
      await expectError(store.put(freshKey("x"), "x", { customMetadata: { note: "héllo" } }), "storage");
    });
  });

  describe("retries", () => {
    test("a PUT answered 503 twice is retried and succeeds on the third attempt", async () => {
      const key = freshKey("data.json");
      const from = server.requests.length;
      server.inject({ match: ({ url }) => url.includes(key), respond: 503, times: 2 });
      await store.put(key, "after two failures");
      expect(requestsFor(key, from).map((request) => request.status)).toEqual([503, 503, 200]);
      expect(await (await store.get(key))!.text()).toBe("after two failures");
    });

    test("a GET answered 500 and a list answered 429 are retried", async () => {
      const key = freshKey("data.json");
      await store.put(key, "x");
      server.inject({ match: ({ method, url }) => method === "GET" && url.includes(key), respond: 500, times: 1 });
      expect(await (await store.get(key))!.text()).toBe("x");
      const folder = key.split("/")[0]!;
      server.inject({ match: ({ url }) => url.includes("list-type=2") && url.includes(folder), respond: 429, times: 1 });
      expect((await store.list(`${folder}/`)).objects.map((object: { key: string }) => object.key)).toEqual([key]);
    });

    test("a connection reset is retried like a server error", async () => {
      const key = freshKey("data.json");
      const from = server.requests.length;
      server.inject({ match: ({ url }) => url.includes(key), respond: "reset", times: 1 });
      await store.put(key, "after a reset");
      expect(requestsFor(key, from).map((request) => request.status)).toEqual(["reset", 200]);
    });

    test("a failing part is retried without restarting the upload", async () => {
      const key = freshKey("large.json");
      const from = server.requests.length;
      server.inject({ match: ({ method, url }) => method === "PUT" && url.includes("partNumber=2"), respond: 503, times: 1 });
      await store.put(key, streamOf(patternBytes(2 * PART)));
      const requests = requestsFor(key, from);
      expect(requests.filter((request) => request.url.includes("?uploads"))).toHaveLength(1);
      expect(requests.filter(isPart).map((request) => request.status)).toEqual([200, 503, 200]);
    });

    test("a 403 is not retried and becomes a storage error naming the status and S3 code", async () => {
      const key = freshKey("data.json");
      const from = server.requests.length;
      server.inject({ match: ({ url }) => url.includes(key), respond: 403 });
      const error = await expectError(store.put(key, "x"), "storage");
      expect(error.message).toMatch(/403 AccessDenied/);
      expect(requestsFor(key, from)).toHaveLength(1);
    });

    test("a server that keeps failing is given up on after the configured attempts", async () => {
      const key = freshKey("data.json");
      const from = server.requests.length;
      server.inject({ match: ({ url }) => url.includes(key), respond: 503 });
      const error = await expectError(store.get(key), "storage");
      expect(error.message).toMatch(/503/);
      expect(requestsFor(key, from)).toHaveLength(4);
    });

    test("a server that cannot be reached is a storage error after the configured attempts", async () => {
      const unreachable = await openS3Store(storeOptions({ endpoint: "http://127.0.0.1:9", retry: { attempts: 2, baseDelayMs: 1 } }));
      const error = await expectError(unreachable.head("x"), "storage");
      expect(error.message).toMatch(/after 2 attempts/);
    });

    test("a create-only PUT whose answer was lost is recognized as our own write on retry", async () => {
      const key = freshKey("manifest.json");
      const from = server.requests.length;
      server.inject({ match: ({ method, url }) => method === "PUT" && url.includes(key), respond: "forward-then-reset", times: 1 });
      const info = (await store.put(key, "mine", { ifNoneMatch: "*" }))!;
      expect(requestsFor(key, from).filter((request) => request.method === "PUT").map((request) => request.status)).toEqual(["reset", 412]);
      expect(info.etag).toBe((await store.head(key))!.etag);
    });

    test("a multipart upload whose completion answer was lost is recognized as ours on retry", async () => {
      const key = freshKey("large.json");
      const from = server.requests.length;
      server.inject({ match: ({ method, url }) => method === "POST" && url.includes(key) && url.includes("uploadId="), respond: "forward-then-reset", times: 1 });
      const body = patternBytes(PART + 6);
      const info = (await store.put(key, streamOf(body)))!;
      const completes = requestsFor(key, from).filter((request) => request.method === "POST" && request.url.includes("uploadId="));
      expect(completes.map((request) => request.status)).toEqual(["reset", 404]);
      expect(info.etag).toBe((await store.head(key))!.etag);
      expect((await store.head(key))!.size).toBe(body.byteLength);
    });

    test("a Retry-After on a 503 sets the delay before the retry", async () => {
      const retries: { delayMs: number; status: number | null }[] = [];
      const patient = await openS3Store(storeOptions({ retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5_000 }, onRetry: (retry) => retries.push(retry) }));
      const key = freshKey("data.json");
      server.inject({ match: ({ url }) => url.includes(key), respond: 503, times: 1, headers: { "retry-after": "1" } });
      await patient.put(key, "after a Retry-After");
      expect(retries).toEqual([{ method: "PUT", key, attempt: 1, delayMs: 1_000, status: 503 }]);
      expect(await (await patient.get(key))!.text()).toBe("after a Retry-After");
    });

    test("a create-only PUT that lost to another writer's body still answers null after a retry", async () => {
      const key = freshKey("manifest.json");
      await store.put(key, "theirs");
      server.inject({ match: ({ method, url }) => method === "PUT" && url.includes(key), respond: 503, times: 1 });
      expect(await store.put(key, "mine", { ifNoneMatch: "*" })).toBeNull();
      expect(await (await store.get(key))!.text()).toBe("theirs");
    });
  });

  test("an endpoint that is not a URL is a configuration error", async () => {
    await expectError(openS3Store(storeOptions({ endpoint: "not a url" })), "config");
  });

  test("a part size under S3's 5 MiB minimum is a configuration error", async () => {
    await expectError(openS3Store(storeOptions({ partSizeBytes: MiB })), "config");
  });
});
