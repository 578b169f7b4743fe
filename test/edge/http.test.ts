/**
 * The small pure HTTP decisions: conditional requests, cache headers, CORS origins, bearer tokens,
 * error bodies and the catalog.
 */
import { describe, expect, it } from "vitest";
import { allowedOrigin } from "../../edge/app.ts";
import { bearerToken, tokensEqual } from "../../edge/http/bearer.ts";
import { cacheControlFor, notModifiedResponse, representationHeaders } from "../../edge/http/cache-headers.ts";
import { ifNoneMatchMatches, isNotModified, notModifiedSince } from "../../edge/http/conditional.ts";
import { errorBody, errorCodeFor } from "../../edge/http/errors.ts";
import { summaryOf, withPublishedVersion, type CatalogEntry, type DatasetHead, type VersionIndex } from "../../contract/index.ts";
import { catalogEntry, catalogText } from "../../contract/protocol/catalog.ts";

function catalogEntries(heads: [DatasetHead, VersionIndex | null][]): CatalogEntry[] {
  return (JSON.parse(catalogText(heads.map(([head, index]) => catalogEntry(head, index)).filter((e): e is CatalogEntry => e !== null))) as { datasets: CatalogEntry[] }).datasets;
}

describe("ifNoneMatchMatches (RFC 9110 §13.1.2)", () => {
  const etag = '"abc"';
  it("matches the same strong tag, a weak form of it, a list member and *", () => {
    expect(ifNoneMatchMatches('"abc"', etag)).toBe(true);
    expect(ifNoneMatchMatches('W/"abc"', etag)).toBe(true);
    expect(ifNoneMatchMatches('"x", W/"abc" ,"y"', etag)).toBe(true);
    expect(ifNoneMatchMatches(" * ", etag)).toBe(true);
  });
  it("does not match other tags, an absent header, or an empty one", () => {
    expect(ifNoneMatchMatches('"abd"', etag)).toBe(false);
    expect(ifNoneMatchMatches("abc", etag)).toBe(false);
    expect(ifNoneMatchMatches(null, etag)).toBe(false);
    expect(ifNoneMatchMatches("", etag)).toBe(false);
  });
});

describe("If-Modified-Since", () => {
  const lastModified = new Date("2026-11-23T12:00:00.750Z");
  it("counts whole seconds, and ignores invalid dates", () => {
    expect(notModifiedSince("Mon, 23 Nov 2026 12:00:00 GMT", lastModified)).toBe(true);
    expect(notModifiedSince("Mon, 23 Nov 2026 11:59:59 GMT", lastModified)).toBe(false);
    expect(notModifiedSince("yesterday", lastModified)).toBe(false);
  });
  it("is ignored when If-None-Match is present (RFC 9110 §13.2.2)", () => {
    const headers = new Headers({ "If-None-Match": '"other"', "If-Modified-Since": "Mon, 23 Nov 2026 13:00:00 GMT" });
    expect(isNotModified(headers, '"abc"', lastModified)).toBe(false);
  });
});

describe("cache headers", () => {
  it("caches versioned URLs for a year and current URLs briefly with revalidation", () => {
    expect(cacheControlFor("versioned")).toBe("public, max-age=31536000, immutable");
    // Shared caches keep a current URL for the bound, browsers always revalidate, nothing is served stale.
    expect(cacheControlFor("current")).toBe("public, max-age=0, s-maxage=10, must-revalidate");
    expect(cacheControlFor("current", 3)).toBe("public, max-age=0, s-maxage=3, must-revalidate");
    expect(cacheControlFor("catalog")).toBe(cacheControlFor("current"));
  });
  it("keeps validators but drops body headers on a 304", () => {
    const headers = representationHeaders({ kind: "current", etag: '"a"', lastModified: new Date(0), version: "v", contentLength: 10 });
    const res = notModifiedResponse(headers);
    expect(res.status).toBe(304);
    expect(res.headers.get("ETag")).toBe('"a"');
    expect(res.headers.get("X-Edgesnap-Version")).toBe("v");
    expect(res.headers.get("Content-Length")).toBeNull();
    expect(res.headers.get("Content-Type")).toBeNull();
  });
});

describe("allowedOrigin", () => {
  it("allows any origin by default and only listed ones when configured", () => {
    expect(allowedOrigin(undefined, "https://x.example")).toBe("*");
    expect(allowedOrigin("*", "https://x.example")).toBe("*");
    expect(allowedOrigin("https://a.example,https://b.example", "https://b.example")).toBe("https://b.example");
    expect(allowedOrigin("https://a.example", "https://a.example.evil")).toBeNull();
  });
});

describe("bearer tokens", () => {
  it("parses the Bearer scheme only", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer abc")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken("Bearer")).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
  it("compares equal tokens as equal and any difference, including length, as different", async () => {
    expect(await tokensEqual("s3cret", "s3cret")).toBe(true);
    expect(await tokensEqual("s3cret", "s3creT")).toBe(false);
    expect(await tokensEqual("s3cret", "s3cret2")).toBe(false);
    expect(await tokensEqual("", "s3cret")).toBe(false);
  });
});

describe("errors", () => {
  it("maps statuses to stable codes", () => {
    expect(errorBody(404, "x")).toEqual({ error: { code: "not_found", message: "x" } });
    expect(errorCodeFor(405)).toBe("method_not_allowed");
    expect(errorCodeFor(502)).toBe("internal");
  });
});

describe("catalogEntries", () => {
  it("lists datasets with a current version, sorted by name", () => {
    const info = (dataset: string, version: string): VersionIndex => ({
      schema: 3,
      dataset,
      version,
      hash: "a".repeat(64),
      generated_at: "2026-11-23T12:00:00.000Z",
      rows: 3,
      bytes: 42,
      columns: [],
      key: "iata",
      layout: "content",
      items: { kind: "index", shards: ["b".repeat(64)], base_map: [0], delta: [] },
      pages: [{ first_row: 0, rows: 3, bytes: 42, sha256: "a".repeat(64) }],
      formats: {},
      previous: null,
      key_changes: null,
    });
    const now = new Date("2026-11-23T12:00:01.000Z");
    const version = "20261123T120000000Z-aaaaaaaa";
    const b = withPublishedVersion(null, "b-set", summaryOf(info("b-set", version)), now).head;
    const a = withPublishedVersion(null, "a-set", summaryOf(info("a-set", version)), now).head;
    const empty = { ...a, dataset: "c-set", current: null, versions: [] };
    expect(catalogEntries([[b, info("b-set", version)], [a, info("a-set", version)], [empty, null]]).map((e) => e.name)).toEqual(["a-set", "b-set"]);
    expect(catalogEntries([[a, info("a-set", version)]])[0]).toEqual({
      name: "a-set",
      version: "20261123T120000000Z-aaaaaaaa",
      generated_at: "2026-11-23T12:00:00.000Z",
      rows: 3,
      bytes: 42,
      pages: 1,
      key: "iata",
      url: "/v1/datasets/a-set",
      checked_at: "2026-11-23T12:00:01.000Z",
      max_age_seconds: null,
    });
  });
});
