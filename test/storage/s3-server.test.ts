/**
 * The S3 test server on its own, over HTTP with SigV4-signed requests: the conditional-write rules
 * it adds in front of s3rver (each test cites the page that states its rule), the errors it shapes
 * like S3's, AbortMultipartUpload, fault injection and the request log. The driver's own tests
 * (s3.test.ts) rely on all of this; docs/s3-compatibility.md says where it differs from AWS and R2.
 *
 * Races are made deterministic by holding a write open (headers and part of its body sent) while
 * other requests run, then finishing it.
 */
import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import { AwsClient } from "aws4fetch";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { completeMultipartXml, xmlText } from "../../compute/storage/s3-xml.ts";
import { S3_TEST_BUCKET, S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from "./s3-server.ts";

let server: S3TestServer;
const signer = new AwsClient({ ...S3_TEST_CREDENTIALS, service: "s3", region: "auto", retries: 0 });

beforeAll(async () => {
  server = await startS3TestServer();
});
afterAll(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

interface RequestOptions {
  query?: string;
  headers?: Record<string, string>;
  body?: string;
}

const freshKey = (name: string) => `proxy-${randomUUID().slice(0, 8)}/${name}`;
const objectUrl = (key: string, query?: string) => `${server.endpoint}/${S3_TEST_BUCKET}/${key}${query ? `?${query}` : ""}`;

/** One signed request, answered in full. */
async function s3(method: string, key: string, options: RequestOptions = {}): Promise<Answer> {
  const signed = await signer.sign(objectUrl(key, options.query), { method, headers: options.headers });
  const response = await fetch(signed.url, { method, headers: signed.headers, body: options.body });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function putObject(key: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return s3("PUT", key, { headers, body });
}

async function etagOf(key: string): Promise<string | null> {
  const answer = await s3("HEAD", key);
  return answer.status === 200 ? answer.headers.get("etag") : null;
}

async function bodyOf(key: string): Promise<string | null> {
  const answer = await s3("GET", key);
  return answer.status === 200 ? answer.text : null;
}

/** The S3 error code of an answer (its `<Code>`), for compact assertions. */
const codeOf = (answer: Answer) => `${answer.status} ${xmlText(answer.text, "Code") ?? ""}`.trim();

/**
 * Starts a signed request and sends its headers and the first half of its body, then waits until
 * the server has logged it: the request is in flight until `finish()` sends the rest.
 */
async function holdOpen(method: string, key: string, body: string, options: Omit<RequestOptions, "body"> = {}): Promise<{ finish(): Promise<Answer> }> {
  const url = objectUrl(key, options.query);
  const signed = await signer.sign(url, { method, headers: options.headers });
  const from = server.requests.length;
  const headers: Record<string, string> = { "content-length": String(Buffer.byteLength(body)) };
  signed.headers.forEach((value, name) => (headers[name] = value));
  const request = http.request(url, { method, headers });
  const answer = new Promise<Answer>((resolve, reject) => {
    request.on("error", reject);
    request.on("response", (response) => {
      let text = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      response.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) if (typeof value === "string") headers.set(name, value);
        resolve({ status: response.statusCode ?? 0, headers, text });
      });
    });
  });
  const half = Math.floor(body.length / 2);
  request.write(body.slice(0, half));
  await until(() => server.requests.slice(from).some((logged) => logged.method === method && logged.url.includes(key)));
  return {
    finish() {
      request.end(body.slice(half));
      return answer;
    },
  };
}

/** Waits until `condition` holds (it is expected to become true; no time limit is asserted). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}

async function createUpload(key: string): Promise<string> {
  const answer = await s3("POST", key, { query: "uploads" });
  expect(answer.status).toBe(200);
  return xmlText(answer.text, "UploadId")!;
}

/** Creates a multipart upload of `key` with one part; returns what completing it needs. */
async function uploadWithOnePart(key: string, body: string): Promise<{ uploadId: string; completeXml: string }> {
  const uploadId = await createUpload(key);
  const part = await s3("PUT", key, { query: `partNumber=1&uploadId=${uploadId}`, body });
  expect(part.status).toBe(200);
  const etag = part.headers.get("etag")!.replace(/"/g, "");
  return { uploadId, completeXml: completeMultipartXml([{ partNumber: 1, etag }]) };
}

async function complete(key: string, upload: { uploadId: string; completeXml: string }, headers: Record<string, string> = {}): Promise<Answer> {
  return s3("POST", key, { query: `uploadId=${upload.uploadId}`, headers: { "content-type": "application/xml", ...headers }, body: upload.completeXml });
}

describe("PutObject with If-None-Match", () => {
  // If-None-Match: "If there's no existing object with the same key name in the bucket, the write
  // operation succeeds". https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("If-None-Match: * creates the object when the key is absent", async () => {
    const key = freshKey("new.json");
    expect((await putObject(key, "first", { "if-none-match": "*" })).status).toBe(200);
    expect(await bodyOf(key)).toBe("first");
  });

  // "If there's an existing object, the write operation fails, resulting in a 412 Precondition
  // Failed response." https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("If-None-Match: * on an existing key is 412 PreconditionFailed and leaves the object as it was", async () => {
    const key = freshKey("taken.json");
    await putObject(key, "theirs");
    const answer = await putObject(key, "mine", { "if-none-match": "*" });
    expect(codeOf(answer)).toBe("412 PreconditionFailed");
    expect(xmlText(answer.text, "Condition")).toBe("If-None-Match");
    expect(await bodyOf(key)).toBe("theirs");
  });

  // If-None-Match "Expects the '*' (asterisk) character"
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html); other values are refused
  // with NotImplemented, "A header you provided implies functionality that is not implemented"
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
  test("an If-None-Match value other than * is 501 NotImplemented naming the header, and nothing is written", async () => {
    const key = freshKey("etag-valued.json");
    await putObject(key, "old");
    const etag = (await etagOf(key))!;
    const answer = await putObject(key, "new", { "if-none-match": '"0123456789abcdef0123456789abcdef"' });
    expect(codeOf(answer)).toBe("501 NotImplemented");
    expect(xmlText(answer.text, "Header")).toBe("If-None-Match");
    expect(await etagOf(key)).toBe(etag);
  });

  // AWS documents each header alone ("add the HTTP If-None-Match or If-Match header");
  // both together are refused like an unsupported value.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("If-Match and If-None-Match together are 501 NotImplemented", async () => {
    const key = freshKey("both.json");
    await putObject(key, "old");
    const answer = await putObject(key, "new", { "if-none-match": "*", "if-match": (await etagOf(key))! });
    expect(codeOf(answer)).toBe("501 NotImplemented");
    expect(await bodyOf(key)).toBe("old");
  });
});

describe("PutObject with If-Match", () => {
  // If-Match: "Uploads the object only if the ETag (entity tag) value provided during the WRITE
  // operation matches the ETag of the object in S3."
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
  test("If-Match with the current ETag, quoted or not, replaces the object", async () => {
    const key = freshKey("cas.json");
    await putObject(key, "v1");
    expect((await putObject(key, "v2", { "if-match": (await etagOf(key))! })).status).toBe(200);
    expect((await putObject(key, "v3", { "if-match": (await etagOf(key))!.replace(/"/g, "") })).status).toBe(200);
    expect(await bodyOf(key)).toBe("v3");
  });

  // "If the ETag values do not match, the operation returns a 412 Precondition Failed error."
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
  test("If-Match with another ETag is 412 PreconditionFailed naming If-Match, and the object stays", async () => {
    const key = freshKey("cas.json");
    await putObject(key, "v1");
    const answer = await putObject(key, "v2", { "if-match": '"0123456789abcdef0123456789abcdef"' });
    expect(codeOf(answer)).toBe("412 PreconditionFailed");
    expect(xmlText(answer.text, "Condition")).toBe("If-Match");
    expect(await bodyOf(key)).toBe("v1");
  });

  // "If there's no current object version with the same name, or if the current object version is
  // a delete marker, the operation fails with a 404 Not Found error."
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("If-Match on a key that does not exist is 404 NoSuchKey, and nothing is written", async () => {
    const key = freshKey("missing.json");
    const answer = await putObject(key, "v1", { "if-match": '"0123456789abcdef0123456789abcdef"' });
    expect(codeOf(answer)).toBe("404 NoSuchKey");
    expect(xmlText(answer.text, "Key")).toBe(key);
    expect(await etagOf(key)).toBeNull();
  });

  // If-Match on PutObject "Expects the ETag value as a string"
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html); `*` is documented only for
  // conditional deletes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html).
  test("If-Match: * is 501 NotImplemented", async () => {
    const key = freshKey("star.json");
    await putObject(key, "v1");
    expect(codeOf(await putObject(key, "v2", { "if-match": "*" }))).toBe("501 NotImplemented");
    expect(await bodyOf(key)).toBe("v1");
  });
});

describe("concurrent writes", () => {
  // "If multiple conditional writes or copies occur for the same object name, the first write
  // operation to finish succeeds. Amazon S3 then fails subsequent writes with a 412 Precondition
  // Failed response." https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("of two create-only writes in flight together, the first to finish wins and the other is 412", async () => {
    const key = freshKey("race.json");
    const slow = await holdOpen("PUT", key, "slow writer", { headers: { "if-none-match": "*" } });
    expect((await putObject(key, "fast writer", { "if-none-match": "*" })).status).toBe(200);
    expect(codeOf(await slow.finish())).toBe("412 PreconditionFailed");
    expect(await bodyOf(key)).toBe("fast writer");
  });

  // Same rule when they finish at once: the check and the write of each are one atomic step, so
  // exactly one succeeds. https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("of four create-only writes finishing together, exactly one succeeds and the others are 412", async () => {
    const key = freshKey("tie.json");
    const writers = [];
    for (const name of ["a", "b", "c", "d"]) writers.push(await holdOpen("PUT", key, `writer ${name}`, { headers: { "if-none-match": "*" } }));
    const answers = await Promise.all(writers.map((writer) => writer.finish()));
    expect(answers.map(codeOf).sort()).toEqual(["200", "412 PreconditionFailed", "412 PreconditionFailed", "412 PreconditionFailed"]);
    expect(await bodyOf(key)).toBe(`writer ${"abcd"[answers.findIndex((answer) => answer.status === 200)]}`);
  });

  // Same rule for If-Match: the condition is checked when the write finishes, against the object
  // as it is then. https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("of two compare-and-swap writes from the same ETag, the first to finish wins and the other is 412", async () => {
    const key = freshKey("cas-race.json");
    await putObject(key, "v1");
    const etag = (await etagOf(key))!;
    const slow = await holdOpen("PUT", key, "slow v2", { headers: { "if-match": etag } });
    expect((await putObject(key, "fast v2", { "if-match": etag })).status).toBe(200);
    expect(codeOf(await slow.finish())).toBe("412 PreconditionFailed");
    expect(await bodyOf(key)).toBe("fast v2");
  });

  // "You can also receive a 409 Conflict response in the case of concurrent requests if a delete
  // request to an object succeeds before a conditional write operation on that object completes.
  // When using conditional writes with PutObject, uploads may be retried after receiving a 409
  // Conflict error." https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  // The code is ConditionalRequestConflict: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
  test("a create-only write overtaken by a DELETE of its key is 409 ConditionalRequestConflict, and a retry succeeds", async () => {
    const key = freshKey("deleted-under.json");
    await putObject(key, "old");
    const writer = await holdOpen("PUT", key, "new body", { headers: { "if-none-match": "*" } });
    expect((await s3("DELETE", key)).status).toBe(204);
    expect(codeOf(await writer.finish())).toBe("409 ConditionalRequestConflict");
    expect(await etagOf(key)).toBeNull();
    expect((await putObject(key, "new body", { "if-none-match": "*" })).status).toBe(200);
  });

  // "You will receive a 404 Not Found response if a concurrent delete request to an object succeeds
  // before a conditional write operation on that object completes" (the If-Match case).
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("a compare-and-swap write overtaken by a DELETE of its key is 404 NoSuchKey", async () => {
    const key = freshKey("deleted-under.json");
    await putObject(key, "v1");
    const writer = await holdOpen("PUT", key, "v2 body", { headers: { "if-match": (await etagOf(key))! } });
    expect((await s3("DELETE", key)).status).toBe(204);
    expect(codeOf(await writer.finish())).toBe("404 NoSuchKey");
    expect(await etagOf(key)).toBeNull();
  });

  // The same 409 when the DELETE is one key of a DeleteObjects request.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("a DeleteObjects that removes the key of a create-only write in flight makes it 409", async () => {
    const key = freshKey("batch-deleted.json");
    await putObject(key, "old");
    const writer = await holdOpen("PUT", key, "new body", { headers: { "if-none-match": "*" } });
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>${key}</Key></Object></Delete>`;
    const md5 = createHash("md5").update(xml).digest("base64");
    const deleted = await s3("POST", "", { query: "delete", headers: { "content-md5": md5, "content-type": "application/xml" }, body: xml });
    expect(deleted.status).toBe(200);
    expect(codeOf(await writer.finish())).toBe("409 ConditionalRequestConflict");
  });

  // A DELETE that happened before the write started is not concurrent: the key is simply absent.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("a DELETE before a create-only write starts does not conflict with it", async () => {
    const key = freshKey("deleted-before.json");
    await putObject(key, "old");
    expect((await s3("DELETE", key)).status).toBe(204);
    const writer = await holdOpen("PUT", key, "new body", { headers: { "if-none-match": "*" } });
    expect((await writer.finish()).status).toBe(200);
  });
});

describe("CompleteMultipartUpload with conditions", () => {
  // If-None-Match on CompleteMultipartUpload: "Uploads the object only if the object key name does
  // not already exist in the bucket specified. Otherwise, Amazon S3 returns a 412 Precondition
  // Failed error." https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
  // A failed condition changes nothing, so the upload is still there to retry or abort.
  test("If-None-Match: * over an existing key is 412, the object stays and the upload can still be aborted", async () => {
    const key = freshKey("large.json");
    await putObject(key, "existing");
    const upload = await uploadWithOnePart(key, "multipart body");
    const answer = await complete(key, upload, { "if-none-match": "*" });
    expect(codeOf(answer)).toBe("412 PreconditionFailed");
    expect(xmlText(answer.text, "Condition")).toBe("If-None-Match");
    expect(await bodyOf(key)).toBe("existing");
    expect(await server.hasPendingUpload(upload.uploadId)).toBe(true);
    expect((await s3("DELETE", key, { query: `uploadId=${upload.uploadId}` })).status).toBe(204);
  });

  // "Conditional writes do not consider any in-progress multipart uploads requests since those are
  // not yet fully written objects": a conditional PUT during the upload wins and the conditional
  // complete then fails (412). https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("an upload in progress is not an object: a create-only PUT during it wins and the create-only complete is 412", async () => {
    const key = freshKey("large.json");
    const upload = await uploadWithOnePart(key, "multipart body");
    expect((await putObject(key, "small writer", { "if-none-match": "*" })).status).toBe(200);
    expect(codeOf(await complete(key, upload, { "if-none-match": "*" }))).toBe("412 PreconditionFailed");
    expect(await bodyOf(key)).toBe("small writer");
  });

  // If-None-Match on a free key, and If-Match with the current ETag, complete the upload; If-Match
  // with another ETag is 412; on a missing key it is 404.
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html and
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("conditions that hold complete the upload; If-Match with another ETag is 412 and on a missing key 404 NoSuchKey", async () => {
    const key = freshKey("large.json");
    expect((await complete(key, await uploadWithOnePart(key, "v1"), { "if-none-match": "*" })).status).toBe(200);
    const etag = (await etagOf(key))!;
    expect(codeOf(await complete(key, await uploadWithOnePart(key, "v2"), { "if-match": '"0123456789abcdef0123456789abcdef-1"' }))).toBe(
      "412 PreconditionFailed",
    );
    expect((await complete(key, await uploadWithOnePart(key, "v2"), { "if-match": etag })).status).toBe(200);
    expect(await bodyOf(key)).toBe("v2");
    const missing = freshKey("missing.json");
    expect(codeOf(await complete(missing, await uploadWithOnePart(missing, "v1"), { "if-match": etag }))).toBe("404 NoSuchKey");
  });

  // "Concurrent deletes during multipart uploads ... will result in a 409 Conflict response for an
  // If-None-Match header", and then "the entire multipart upload must be re-initiated with
  // CreateMultipartUpload". https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("a DELETE of the key during the upload makes a create-only complete 409, and the upload is gone", async () => {
    const key = freshKey("large.json");
    await putObject(key, "old");
    const upload = await uploadWithOnePart(key, "multipart body");
    expect((await s3("DELETE", key)).status).toBe(204);
    expect(codeOf(await complete(key, upload, { "if-none-match": "*" }))).toBe("409 ConditionalRequestConflict");
    expect(await server.hasPendingUpload(upload.uploadId)).toBe(false);
    expect(codeOf(await complete(key, upload, { "if-none-match": "*" }))).toBe("404 NoSuchUpload");
    expect(await etagOf(key)).toBeNull();
  });

  // "... and a 404 Not Found response for an If-Match header."
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  test("a DELETE of the key during the upload makes a compare-and-swap complete 404 NoSuchKey, and the upload is gone", async () => {
    const key = freshKey("large.json");
    await putObject(key, "old");
    const etag = (await etagOf(key))!;
    const upload = await uploadWithOnePart(key, "multipart body");
    expect((await s3("DELETE", key)).status).toBe(204);
    expect(codeOf(await complete(key, upload, { "if-match": etag }))).toBe("404 NoSuchKey");
    expect(await server.hasPendingUpload(upload.uploadId)).toBe(false);
  });

  // If-None-Match "Expects the '*' (asterisk) character" on CompleteMultipartUpload too.
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
  test("an If-None-Match value other than * on complete is 501 NotImplemented, and the upload stays", async () => {
    const key = freshKey("large.json");
    const upload = await uploadWithOnePart(key, "multipart body");
    expect(codeOf(await complete(key, upload, { "if-none-match": '"abc"' }))).toBe("501 NotImplemented");
    expect(await server.hasPendingUpload(upload.uploadId)).toBe(true);
  });
});

describe("error bodies", () => {
  // REST error responses are application/xml with Code, Message, Resource and RequestId; S3 adds
  // HostId, the request ids as x-amz-request-id / x-amz-id-2 headers, and detail elements such as
  // the failed Condition. https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
  test("an error the server answers itself carries Code, Message, Condition, Resource, RequestId and HostId", async () => {
    const key = freshKey("a&b.json");
    await putObject(key, "x");
    const answer = await putObject(key, "y", { "if-none-match": "*" });
    expect(answer.headers.get("content-type")).toBe("application/xml");
    expect(answer.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>PreconditionFailed<\/Code><Message>/);
    expect(xmlText(answer.text, "Message")).toBe("At least one of the pre-conditions you specified did not hold");
    expect(xmlText(answer.text, "Condition")).toBe("If-None-Match");
    expect(xmlText(answer.text, "Resource")).toBe(`/${S3_TEST_BUCKET}/${key}`);
    expect(xmlText(answer.text, "RequestId")).toBe(answer.headers.get("x-amz-request-id"));
    expect(xmlText(answer.text, "HostId")).toBe(answer.headers.get("x-amz-id-2"));
    expect(answer.text).toContain("<Resource>/snapshots/proxy-");
    expect(answer.text).toContain("a&amp;b.json</Resource>");
  });
});

describe("multipart uploads s3rver lacks", () => {
  // AbortMultipartUpload "aborts a multipart upload. After a multipart upload is aborted, no
  // additional parts can be uploaded using that upload ID" and answers 204; an unknown upload is
  // 404 NoSuchUpload. https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html
  test("AbortMultipartUpload removes the upload's parts and answers 204; afterwards the upload is 404 NoSuchUpload", async () => {
    const key = freshKey("aborted.json");
    const upload = await uploadWithOnePart(key, "part");
    expect((await s3("DELETE", key, { query: `uploadId=${upload.uploadId}` })).status).toBe(204);
    expect(await server.hasPendingUpload(upload.uploadId)).toBe(false);
    expect(codeOf(await s3("DELETE", key, { query: `uploadId=${upload.uploadId}` }))).toBe("404 NoSuchUpload");
    expect(codeOf(await s3("PUT", key, { query: `partNumber=2&uploadId=${upload.uploadId}`, body: "late" }))).toBe("404 NoSuchUpload");
    expect(codeOf(await complete(key, upload))).toBe("404 NoSuchUpload");
  });
});

describe("fault injection and the request log", () => {
  test("an injected status is answered instead of forwarding, and logged", async () => {
    const key = freshKey("fault.json");
    server.inject({ match: ({ url }) => url.includes(key), respond: 503, times: 1 });
    expect(codeOf(await putObject(key, "x"))).toBe("503 SlowDown");
    expect(await etagOf(key)).toBeNull();
    expect((await putObject(key, "x")).status).toBe(200);
    const logged = server.requests.filter((request) => request.url.includes(key) && request.method === "PUT");
    expect(logged.map((request) => [request.status, request.bytes])).toEqual([
      [503, 0],
      [200, 1],
    ]);
  });

  test("a reset drops the connection without forwarding", async () => {
    const key = freshKey("reset.json");
    server.inject({ match: ({ url }) => url.includes(key), respond: "reset", times: 1 });
    await expect(putObject(key, "x")).rejects.toThrow();
    expect(await etagOf(key)).toBeNull();
  });

  test("forward-then-reset applies a conditional write and drops its answer", async () => {
    const key = freshKey("lost-answer.json");
    server.inject({ match: ({ method, url }) => method === "PUT" && url.includes(key), respond: "forward-then-reset", times: 1 });
    await expect(putObject(key, "applied", { "if-none-match": "*" })).rejects.toThrow();
    expect(await bodyOf(key)).toBe("applied");
    expect(server.requests.filter((request) => request.url.includes(key) && request.method === "PUT").map((request) => request.status)).toEqual(["reset"]);
  });
});
