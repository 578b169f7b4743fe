/**
 * @edgesnap/client: a typed client of an edgesnap Worker's public API, for browsers, Node >= 20,
 * Deno and Workers. It uses only `fetch` and has no dependencies.
 *
 *   import { createClient } from "@edgesnap/client";
 *   import type { Datasets } from "./edgesnap-types.ts"; // written by `edgesnap types`
 *   const client = createClient<Datasets>({ baseUrl: "https://data.example.com" });
 *   const ord = await client.item("airport-delays", "ORD"); // typed row
 *
 * Every GET goes through an in-memory ETag cache: a repeated request sends If-None-Match, and a 304
 * answer reuses the body parsed the first time (the same object: treat answers as read-only).
 */
import { EdgesnapError, errorFromResponse, INVALID_RESPONSE, NETWORK_ERROR } from "./errors.ts";
import { EtagCache, type CachedAnswer } from "./etag-cache.ts";
import { DatasetSync, type ChangesDocument, type SyncTransport, type VersionIndexDocument } from "./sync.ts";

export { EdgesnapError, INVALID_RESPONSE, NETWORK_ERROR } from "./errors.ts";
export { DatasetSync, joinPages, type ChangesDocument, type IndexPage, type KeyDelta, type SyncResult, type VersionIndexDocument } from "./sync.ts";

/** One row, when the dataset's type is not known. */
export type Row = { [column: string]: unknown };

/** Datasets by name with their row types; `edgesnap types` writes one for a deployment. */
export type AnyDatasets = Record<string, Row>;

/** The formats a version may be published in beside JSON. */
export type Format = "csv" | "ndjson" | "parquet";

export interface CatalogEntry {
  name: string;
  version: string;
  generated_at: string;
  rows: number;
  bytes: number;
  pages: number;
  key: string | null;
  url: string;
}

export interface Catalog {
  datasets: CatalogEntry[];
}

/** A JSON Schema (2020-12) document. */
export type JsonSchema = { [keyword: string]: unknown };

/** Bytes of answers the ETag cache keeps by default. */
export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;

export interface ClientOptions {
  /** Where the Worker answers, e.g. "https://data.example.com" (a path prefix is kept). */
  baseUrl: string;
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Size of the answers kept for revalidation, least recently used out first; 0 keeps none. Default 8 MiB. */
  cacheBytes?: number;
}

type Name<D> = Extract<keyof D, string>;

export interface EdgesnapClient<D extends object = AnyDatasets> {
  /** Every published dataset. */
  catalog(): Promise<Catalog>;
  /** Every row of the current version. */
  get<N extends Name<D>>(name: N): Promise<D[N][]>;
  /** Every row of one retained version. */
  version<N extends Name<D>>(name: N, version: string): Promise<D[N][]>;
  /** The row with this key, of a keyed dataset. */
  item<N extends Name<D>>(name: N, key: string): Promise<D[N]>;
  /** The JSON Schema of one row (of the current version, or of `version`). */
  schema(name: Name<D>, version?: string): Promise<JsonSchema>;
  /**
   * The rows page by page, following each page's Link rel="next", which points at the version of
   * the first page: a publish during the iteration does not mix versions.
   */
  pages<N extends Name<D>>(name: N): AsyncGenerator<D[N][], void, undefined>;
  /** The URL of a dataset (or of one version) in a format, e.g. for a download link. */
  url(name: Name<D>, format?: Format | "json", version?: string): string;
  /**
   * Bytes `start` to `end` (inclusive; to the end when omitted) of the body, or of a format, by an
   * HTTP range request (RFC 9110 §14); `total` is the representation's length. A server that
   * answers the whole is sliced here.
   */
  range(name: Name<D>, options: { start: number; end?: number; format?: Format | "json"; version?: string }): Promise<{ bytes: Uint8Array; total: number }>;
  /** One page's rows: by number (of the current version, or of `version`) or by its sha256. */
  page<N extends Name<D>>(name: N, page: number | string, version?: string): Promise<D[N][]>;
  /** A version's index (the current one's by default): its pages with their sha256 and by-hash URL. */
  index(name: Name<D>, version?: string): Promise<VersionIndexDocument>;
  /** What a client holding version `since` must fetch to hold the current version. */
  changes(name: Name<D>, since: string): Promise<ChangesDocument>;
  /**
   * A holder of the dataset's current version that `sync()` keeps up to date, fetching only the
   * pages that changed and checking the assembled body against the version's sha256.
   */
  follow<N extends Name<D>>(name: N): DatasetSync<D[N]>;
}

/** The target of the Link header's rel="next", resolved against the URL it came with; null on the last page. */
export function nextLink(link: string | null, base: string): string | null {
  if (link === null) return null;
  for (const match of link.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    const rels = /;\s*rel\s*=\s*"?([^";,]+)"?/i.exec(match[2] ?? "")?.[1]?.split(/\s+/) ?? [];
    if (rels.includes("next")) return new URL(match[1]!, base).href;
  }
  return null;
}

function segment(value: string, what: string): string {
  // "." and ".." would be resolved away by URL parsing and reach another resource.
  if (value === "" || value === "." || value === "..") throw new EdgesnapError(0, "bad_request", `${what} ${JSON.stringify(value)} cannot be a URL path segment`);
  return encodeURIComponent(value);
}

/**
 * Creates a client. Nothing is sent until a method is called.
 * @throws {EdgesnapError} code "bad_request" when baseUrl is not an absolute URL
 */
export function createClient<D extends object = AnyDatasets>(options: ClientOptions): EdgesnapClient<D> {
  let base: string;
  try {
    base = new URL(options.baseUrl).href.replace(/\/+$/, "");
  } catch (error) {
    throw new EdgesnapError(0, "bad_request", `baseUrl ${JSON.stringify(options.baseUrl)} is not an absolute URL`, { cause: error });
  }
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const cache = new EtagCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
  const datasetUrl = (name: string, version?: string) =>
    `${base}/v1/datasets/${segment(name, "dataset name")}${version === undefined ? "" : `/versions/${segment(version, "version")}`}`;

  async function request(url: string): Promise<CachedAnswer> {
    const cached = cache.get(url);
    let response: Response;
    try {
      response = await fetchImpl(url, { headers: cached ? { "If-None-Match": cached.etag } : {} });
    } catch (error) {
      throw new EdgesnapError(0, NETWORK_ERROR, `cannot reach ${url}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (response.status === 304) {
      if (cached) return cached;
      throw new EdgesnapError(304, INVALID_RESPONSE, `304 from ${url} for nothing cached`);
    }
    if (!response.ok) throw await errorFromResponse(response, url);
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new EdgesnapError(0, NETWORK_ERROR, `the answer from ${url} was cut: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new EdgesnapError(response.status, INVALID_RESPONSE, `the answer from ${url} is not JSON`, { cause: error });
    }
    const answer = { etag: response.headers.get("ETag") ?? "", body, link: response.headers.get("Link"), size: text.length };
    if (answer.etag !== "") cache.set(url, answer);
    return answer;
  }

  const body = async <T>(url: string) => (await request(url)).body as T;

  const transport: SyncTransport = {
    async json<T>(url: string, opts: { goneIsNull?: boolean } = {}) {
      try {
        const answer = await request(url);
        return { body: answer.body as T, bytes: answer.size };
      } catch (error) {
        if (opts.goneIsNull && error instanceof EdgesnapError && error.status === 410) return null;
        throw error;
      }
    },
    async bytes(url: string) {
      let response: Response;
      try {
        response = await fetchImpl(url);
      } catch (error) {
        throw new EdgesnapError(0, NETWORK_ERROR, `cannot reach ${url}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      }
      if (!response.ok) throw await errorFromResponse(response, url);
      return new Uint8Array(await response.arrayBuffer());
    },
  };

  return {
    // async, so a bad argument rejects the promise like every other failure.
    catalog: async () => body<Catalog>(`${base}/v1/datasets`),
    get: async (name) => body(datasetUrl(name)),
    version: async (name, version) => body(datasetUrl(name, version)),
    item: async (name, key) => body(`${datasetUrl(name)}/items/${segment(key, "item key")}`),
    schema: async (name, version) => body<JsonSchema>(`${datasetUrl(name, version)}/schema`),
    async *pages(name) {
      let url: string | null = `${datasetUrl(name)}/pages/1`;
      while (url !== null) {
        const answer = await request(url);
        yield answer.body as D[typeof name][];
        url = nextLink(answer.link, url);
      }
    },
    url: (name, format = "json", version) => `${datasetUrl(name, version)}${format === "json" ? "" : `.${format}`}`,
    page: async (name, page, version) => body(`${datasetUrl(name, typeof page === "string" ? undefined : version)}/pages/${segment(String(page), "page")}`),
    index: async (name, version) => body<VersionIndexDocument>(`${datasetUrl(name, version)}/index`),
    changes: async (name, since) => body<ChangesDocument>(`${datasetUrl(name)}/changes?since=${encodeURIComponent(since)}`),
    follow: (name) => new DatasetSync(datasetUrl(name), transport),
    async range(name, { start, end, format = "json", version }) {
      const url = `${datasetUrl(name, version)}${format === "json" ? "" : `.${format}`}`;
      if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
        throw new EdgesnapError(0, "bad_request", `range ${start}-${end ?? ""} is not a byte range`);
      }
      let response: Response;
      try {
        response = await fetchImpl(url, { headers: { Range: `bytes=${start}-${end ?? ""}` } });
      } catch (error) {
        throw new EdgesnapError(0, NETWORK_ERROR, `cannot reach ${url}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      }
      if (response.status !== 200 && response.status !== 206) throw await errorFromResponse(response, url);
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (response.status === 200) return { bytes: bytes.subarray(start, end === undefined ? undefined : end + 1), total: bytes.byteLength };
      const total = Number(/\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "")?.[1] ?? Number.NaN);
      return { bytes, total };
    },
  };
}
