/**
 * The client's own rules, against a real HTTP server that answers the way a misbehaving proxy or a
 * broken deployment might (the happy path against the real Worker is in published.test.ts and the
 * browser test): error shapes, answers that are not JSON, the bounded ETag cache, Link parsing, and
 * URLs that could escape their path segment.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { createClient, EdgesnapError, joinPages, nextLink } from "../../client/src/index.ts";
import { EtagCache } from "../../client/src/etag-cache.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let base: string;
let handler: Handler = (_req, res) => res.writeHead(500).end();
const requests: { url: string; ifNoneMatch: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", ifNoneMatch: req.headers["if-none-match"] });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("client errors", () => {
  it("takes status, code and message from the API's error body", async () => {
    handler = (_req, res) => res.writeHead(503, { "Content-Type": "application/json" }).end('{"error":{"code":"unavailable","message":"manifest unreadable"}}');
    const error = await createClient({ baseUrl: base }).get("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgesnapError);
    expect(error).toMatchObject({ status: 503, code: "unavailable", message: "manifest unreadable" });
  });

  it("names the status when an error answer is not the API's shape", async () => {
    handler = (_req, res) => res.writeHead(502, "Bad Gateway", { "Content-Type": "text/html" }).end("<h1>bad gateway</h1>");
    expect(await createClient({ baseUrl: base }).catalog().catch((e: unknown) => e)).toMatchObject({ status: 502, code: "http_502", message: `502 Bad Gateway from ${base}/v1/datasets` });
  });

  it("refuses a 200 that is not JSON, and a 304 for something it never cached", async () => {
    handler = (_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<html>");
    expect(await createClient({ baseUrl: base }).catalog().catch((e: unknown) => e)).toMatchObject({ status: 200, code: "invalid_response" });
    handler = (_req, res) => res.writeHead(304).end();
    expect(await createClient({ baseUrl: base }).catalog().catch((e: unknown) => e)).toMatchObject({ status: 304, code: "invalid_response" });
  });

  it("wraps a connection cut mid-answer as a network error", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "1000" });
      res.write('[{"a":');
      setImmediate(() => res.destroy());
    };
    expect(await createClient({ baseUrl: base }).get("cut").catch((e: unknown) => e)).toMatchObject({ status: 0, code: "network" });
  });

  it("refuses a base URL that is not absolute, and a name or key that URL parsing would resolve away", async () => {
    expect(() => createClient({ baseUrl: "/relative" })).toThrow(EdgesnapError);
    const client = createClient({ baseUrl: base });
    for (const key of [".", ".."]) expect(await client.item("x", key).catch((e: unknown) => e)).toMatchObject({ code: "bad_request", status: 0 });
    requests.length = 0;
    handler = (_req, res) => res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":{"code":"not_found","message":"no"}}');
    await client.item("x", "a/b?c#d").catch(() => {});
    expect(requests.map((r) => r.url)).toEqual(["/v1/datasets/x/items/a%2Fb%3Fc%23d"]);
  });
});

describe("the ETag cache", () => {
  it("keeps answers within its size budget, least recently used out first", () => {
    const cache = new EtagCache(100);
    const entry = (size: number) => ({ etag: '"e"', body: null, link: null, size });
    cache.set("a", entry(40));
    cache.set("b", entry(40));
    cache.get("a");
    cache.set("c", entry(40));
    expect([cache.get("a"), cache.get("b"), cache.get("c")].map((e) => e !== undefined)).toEqual([true, false, true]);
    cache.set("huge", entry(101));
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.count).toBe(2);
  });

  it("sends no If-None-Match when its budget is 0, and keeps a prefix of the base URL", async () => {
    handler = (_req, res) => res.writeHead(200, { "Content-Type": "application/json", ETag: '"v1"' }).end("[]");
    requests.length = 0;
    const client = createClient({ baseUrl: `${base}/api/`, cacheBytes: 0 });
    await client.get("x");
    await client.get("x");
    expect(requests).toEqual([
      { url: "/api/v1/datasets/x", ifNoneMatch: undefined },
      { url: "/api/v1/datasets/x", ifNoneMatch: undefined },
    ]);
  });
});

describe("nextLink and url", () => {
  it("finds rel=next among RFC 8288 links, resolved against the page's URL", () => {
    const link = '</v1/datasets/a/versions/v/pages/1>; rel="first", </v1/datasets/a/versions/v/pages/3>; rel="next", </v1/datasets/a/versions/v/pages/9>; rel=last';
    expect(nextLink(link, "https://h.example/v1/datasets/a/pages/2")).toBe("https://h.example/v1/datasets/a/versions/v/pages/3");
    expect(nextLink('<p/2>; rel="prev next"', "https://h.example/x/y")).toBe("https://h.example/x/p/2");
    expect(nextLink('</p/1>; rel="first", </p/9>; rel="last"', "https://h.example/")).toBeNull();
    expect(nextLink(null, "https://h.example/")).toBeNull();
  });

  it("builds the URL of a dataset in a format, current or versioned", () => {
    const client = createClient({ baseUrl: "https://data.example/" });
    expect(client.url("airport-delays")).toBe("https://data.example/v1/datasets/airport-delays");
    expect(client.url("airport-delays", "csv")).toBe("https://data.example/v1/datasets/airport-delays.csv");
    expect(client.url("airport-delays", "parquet", "20261123T162933439Z-55f9370a")).toBe("https://data.example/v1/datasets/airport-delays/versions/20261123T162933439Z-55f9370a.parquet");
  });
});

describe("follow() and sync()", () => {
  const pageA = '[{"a":1},{"a":2}]';
  const pageB = '[{"a":3}]';
  const sha = (text: string) => createHash("sha256").update(text).digest("hex");
  const index = (pages: string[], hash: string) => ({
    dataset: "x",
    version: "20261201T000000000Z-aaaaaaaa",
    hash,
    rows: 3,
    pages: pages.map((text, i) => ({ n: i + 1, sha256: sha(text), url: `/v1/datasets/x/pages/${sha(text)}`, rows: 1, first_row: 0, bytes: text.length })),
  });
  const serve = (doc: unknown, pages: Record<string, string>): Handler => (req, res) => {
    if (req.url === "/v1/datasets/x/index") return res.writeHead(200, { "Content-Type": "application/json", ETag: '"i"' }).end(JSON.stringify(doc));
    const page = Object.entries(pages).find(([text]) => req.url === `/v1/datasets/x/pages/${sha(text)}`);
    return page ? res.writeHead(200).end(page[1]) : res.writeHead(404).end();
  };

  it("joins the pages into the body and checks it against the version's sha256", async () => {
    const body = '[{"a":1},{"a":2},{"a":3}]';
    handler = serve(index([pageA, pageB], sha(body)), { [pageA]: pageA, [pageB]: pageB });
    const held = createClient({ baseUrl: base }).follow("x");
    expect(await held.sync()).toMatchObject({ changed: true, fetchedPages: 2, keptPages: 0 });
    expect(new TextDecoder().decode(held.body())).toBe(body);
    expect(held.rows()).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(new TextDecoder().decode(joinPages([new TextEncoder().encode("[]")]))).toBe("[]");
  });

  it("refuses pages that do not join into the version's body, and keeps holding nothing", async () => {
    // A page altered on the way (same name, other bytes): the sha256 of the whole body tells.
    handler = serve(index([pageA, pageB], sha('[{"a":1},{"a":2},{"a":3}]')), { [pageA]: pageA, [pageB]: '[{"a":4}]' });
    const held = createClient({ baseUrl: base }).follow("x");
    expect(await held.sync().catch((e: unknown) => e)).toMatchObject({ code: "invalid_response", message: expect.stringMatching(/join into a body whose sha256 is/) });
    expect(held.version).toBeNull();
    expect(() => held.body()).toThrow(/call sync\(\) first/);
  });
});
