/**
 * `GET /openapi.json`: an OpenAPI 3.1 document of the public API (every route, parameter, header
 * and the error shape), with one component schema per published dataset: its row schema, the same
 * JSON Schema `/v1/datasets/<name>/schema` serves (OpenAPI 3.1's schema dialect is JSON Schema
 * 2020-12). The datasets come from the stored catalog and their manifests, read on each request:
 * the document changes with every new dataset or column, and is served like the catalog.
 * https://spec.openapis.org/oas/v3.1.1.html
 */
import { CATALOG_OBJECT_KEY } from "../../contract/keys.ts";
import { FORMATS } from "../../contract/manifest.ts";
import type { HeadState } from "../../contract/head.ts";
import { readAllHeads, readCatalogEntries } from "../../contract/protocol/catalog.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { readHead } from "../../contract/protocol/manifests.ts";
import { loadIndex } from "./versions.ts";
import { DATASET_NAME_PATTERN, MAX_ITEM_KEY_BYTES, VERSION_ID_PATTERN } from "../../contract/names.ts";
import { sha256Of } from "../../contract/storage.ts";
import type { AppContext } from "../env.ts";
import { freshnessSeconds, notModifiedResponse, representationHeaders } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";
import { ERROR_CODES } from "../http/errors.ts";
import { rowSchema, type JsonSchema } from "./schema.ts";

/** What the document needs of one published dataset: its name and row schema. */
export interface PublishedDataset {
  name: string;
  schema: JsonSchema;
}

const ref = (section: string, name: string) => ({ $ref: `#/components/${section}/${name}` });
const json = (schema: JsonSchema) => ({ "application/json": { schema } });
const VALIDATORS = ["ETag", "Last-Modified", "Cache-Control"];
const VERSIONED = [...VALIDATORS, "X-Edgesnap-Version"];

interface RouteSpec {
  path: string;
  id: string;
  summary: string;
  params: string[];
  /** The 200 answer's content; null for none. */
  content: Record<string, { schema: JsonSchema }>;
  headers: string[];
  /** Error answers besides the default. */
  errors: string[];
  conditional: boolean;
  /** Takes a Range (206, 416; Accept-Ranges). */
  ranged?: boolean;
}

const ERRORS = ["BadRequest", "NotFound", "Unavailable"];
/** The routes whose answers take a Range: snapshot bytes (documents and schemas are whole). */
const RANGED = new Set(["getDataset", "getPage", "getItem"]);
const ROWS = { type: "array", items: ref("schemas", "Row") };
const FORMAT_CONTENT = { "text/csv": { schema: { type: "string" } }, "application/x-ndjson": { schema: { type: "string" } }, "application/vnd.apache.parquet": { schema: { type: "string", contentMediaType: "application/vnd.apache.parquet" } } };

/** Every public route. Versioned twins carry the version parameter and immutable caching. */
function routeSpecs(): RouteSpec[] {
  const data = (path: string, id: string, summary: string, params: string[], content: RouteSpec["content"], headers = VERSIONED): RouteSpec[] => [
    { path: `/v1/datasets/{name}${path}`, id, summary: `${summary} (current version)`, params: ["name", ...params], content, headers, errors: ERRORS, conditional: true, ranged: RANGED.has(id) },
    { path: `/v1/datasets/{name}/versions/{version}${path}`, id: `${id}Version`, summary: `${summary} (one retained version, immutable)`, params: ["name", "version", ...params], content, headers, errors: ERRORS, conditional: true, ranged: RANGED.has(id) },
  ];
  const format = (versioned: boolean): RouteSpec => ({
    path: versioned ? "/v1/datasets/{name}/versions/{version}.{format}" : "/v1/datasets/{name}.{format}",
    id: versioned ? "getFormatVersion" : "getFormat",
    summary: `The ${versioned ? "version" : "current version"} as CSV (RFC 4180, CRLF), NDJSON or Parquet; 404 when it was published without that format`,
    params: versioned ? ["name", "version", "format"] : ["name", "format"],
    content: FORMAT_CONTENT,
    headers: [...VERSIONED, "Content-Disposition", "Content-Encoding", "Vary"],
    errors: ERRORS,
    conditional: true,
    ranged: true,
  });
  return [
    { path: "/v1/datasets", id: "listDatasets", summary: "The catalog: every published dataset", params: [], content: json(ref("schemas", "Catalog")), headers: VALIDATORS, errors: [], conditional: true },
    ...data("", "getDataset", "Every row, as one JSON array", [], json(ROWS)),
    format(false),
    format(true),
    ...data("/pages/{page}", "getPage", "One page of whole rows, by number (Link points at the versioned first/prev/next/last pages) or, at the current URL, by its sha256 (immutable, shared by every version holding it)", ["page"], json(ROWS), [...VERSIONED, "Link"]),
    ...data("/index", "getIndex", "The version's index: its pages with their sha256, first row, rows, bytes and by-hash URL, its columns and formats", [], json(ref("schemas", "VersionIndex"))),
    {
      path: "/v1/datasets/{name}/changes",
      id: "getChanges",
      summary: "What a client holding version `since` must fetch to hold the current version: the new pages and, for keyed datasets, the keys added, changed and removed; 410 when `since` is no longer retained",
      params: ["name", "since"],
      content: json(ref("schemas", "Changes")),
      headers: VERSIONED,
      errors: [...ERRORS, "Gone"],
      conditional: true,
    },
    ...data("/items/{key}", "getItem", "The row with this key, of a keyed dataset", ["key"], json(ref("schemas", "Row"))),
    ...data("/schema", "getSchema", "The JSON Schema (2020-12) of one row", [], json({ type: "object", description: "A JSON Schema (2020-12) document" })),
    {
      path: "/v1/health",
      id: "getHealth",
      summary: "Freshness for uptime monitors: 200 while every dataset is within its budget, 503 naming the stale ones",
      params: [],
      content: json({
        type: "object",
        properties: { ok: { type: "boolean" }, datasets: { type: "integer" }, stale: { type: "array", items: { type: "object" } }, unreadable: { type: "array", items: { type: "string" } }, time: { type: "string", format: "date-time" } },
        required: ["ok", "datasets", "stale", "unreadable", "time"],
      }),
      headers: [],
      errors: ["Unavailable"],
      conditional: false,
    },
    { path: "/healthz", id: "health", summary: "Liveness", params: [], content: json({ type: "object", properties: { ok: { const: true } }, required: ["ok"] }), headers: [], errors: [], conditional: false },
    { path: "/openapi.json", id: "getOpenApi", summary: "This document", params: [], content: json({ type: "object" }), headers: VALIDATORS, errors: [], conditional: true },
  ];
}

function operations(spec: RouteSpec): Record<string, unknown> {
  const headers = Object.fromEntries(spec.headers.map((name) => [name, ref("headers", name)]));
  if (spec.ranged) headers["Accept-Ranges"] = ref("headers", "Accept-Ranges");
  const parameters = [
    ...spec.params.map((name) => ref("parameters", name)),
    ...(spec.conditional ? [ref("parameters", "IfNoneMatch"), ref("parameters", "IfModifiedSince")] : []),
    ...(spec.ranged ? [ref("parameters", "Range"), ref("parameters", "IfRange")] : []),
  ];
  const partial = { "206": { description: "Partial Content: the one byte range asked for", headers: { ...headers, "Content-Range": ref("headers", "Content-Range") }, content: { "application/octet-stream": { schema: { type: "string" } } } }, "416": ref("responses", "RangeNotSatisfiable") };
  const responses = (head: boolean) => ({
    "200": { description: "OK", headers, ...(head ? {} : { content: spec.content }) },
    ...(spec.ranged && !head ? partial : {}),
    ...(spec.conditional ? { "304": ref("responses", "NotModified") } : {}),
    ...Object.fromEntries(spec.errors.map((name) => [String(ERROR_STATUS[name]), ref("responses", name)])),
    default: ref("responses", "Error"),
  });
  return {
    get: { operationId: spec.id, summary: spec.summary, parameters, responses: responses(false) },
    head: { operationId: `head${spec.id[0]!.toUpperCase()}${spec.id.slice(1)}`, summary: `${spec.summary}: headers only`, parameters, responses: responses(true) },
  };
}

const ERROR_STATUS: Record<string, number> = { BadRequest: 400, NotFound: 404, Gone: 410, Unavailable: 503 };

const header = (description: string, schema: JsonSchema = { type: "string" }) => ({ description, schema });
const pathParam = (name: string, description: string, schema: JsonSchema) => ({ name, in: "path", required: true, description, schema });

/** The path, query and header parameters; the dataset names are the `name` parameter's examples. */
function parameters(datasets: readonly PublishedDataset[]): Record<string, unknown> {
  return {
    name: pathParam("name", "Dataset name", { type: "string", pattern: DATASET_NAME_PATTERN.source, ...(datasets.length > 0 ? { examples: datasets.map((d) => d.name) } : {}) }),
    version: pathParam("version", "Version id: UTC build time and the first 8 hex digits of the content hash", { type: "string", pattern: VERSION_ID_PATTERN.source }),
    page: pathParam("page", "Page number, from 1, or (current URL only) the page's sha256", { oneOf: [{ type: "integer", minimum: 1 }, { type: "string", pattern: "^[0-9a-f]{64}$" }] }),
    since: { name: "since", in: "query", required: true, description: "The version id the client holds", schema: { type: "string", pattern: VERSION_ID_PATTERN.source } },
    key: pathParam("key", "Item key (the value of the dataset's key column), percent-encoded", { type: "string", minLength: 1, maxLength: MAX_ITEM_KEY_BYTES }),
    format: pathParam("format", "File format", { type: "string", enum: [...FORMATS] }),
    IfNoneMatch: { name: "If-None-Match", in: "header", description: "ETags the client holds: 304 when one matches (RFC 9110 §13.1.2)", schema: { type: "string" } },
    IfModifiedSince: { name: "If-Modified-Since", in: "header", description: "Ignored when If-None-Match is present (RFC 9110 §13.1.3)", schema: { type: "string" } },
    Range: { name: "Range", in: "header", description: "One byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`): 206 with those bytes, 416 past the end (RFC 9110 §14). Several ranges, another unit or a malformed value get the whole 200", schema: { type: "string" } },
    IfRange: { name: "If-Range", in: "header", description: "The range applies only if this is the representation's ETag (strong) or Last-Modified; otherwise the whole 200", schema: { type: "string" } },
  };
}

const HEADERS = {
  ETag: header("Strong entity tag: the sha256 of the bytes answered (an item: of its own bytes, so an unchanged item keeps it across versions)"),
  "Last-Modified": header("When the version was built"),
  "Cache-Control": header("Versioned URLs: a year, immutable; current URLs: shared caches keep them FRESHNESS_SECONDS (s-maxage), browsers revalidate every use"),
  "X-Edgesnap-Version": header("The version id of the answer", { type: "string", pattern: VERSION_ID_PATTERN.source }),
  Link: header('RFC 8288 links rel="first", "prev", "next", "last" to the versioned pages, so paging stays on one version'),
  "Content-Disposition": header('attachment; filename="<dataset>-<version>.<format>"'),
  "Accept-Ranges": header("bytes: the answer takes a Range"),
  "Content-Range": header("bytes a-b/length of a 206; bytes */length of a 416"),
  "Content-Encoding": header("gzip for CSV and NDJSON when the client accepts it and asks for no range (their gzip copy, with its own ETag)"),
  Vary: header("Accept-Encoding, on CSV and NDJSON"),
};

const errorResponse = (description: string) => ({ description, content: json(ref("schemas", "Error")) });

const RESPONSES = {
  NotModified: { description: "Not Modified: the client's copy is current", headers: Object.fromEntries(VERSIONED.map((name) => [name, ref("headers", name)])) },
  BadRequest: errorResponse("Malformed dataset name, version id, page number or item key"),
  NotFound: errorResponse("Unknown dataset, version, page or key, or a format the version was published without"),
  RangeNotSatisfiable: { description: "Range Not Satisfiable: the range starts past the end", headers: { "Content-Range": ref("headers", "Content-Range") }, content: json(ref("schemas", "Error")) },
  Gone: errorResponse("The version `since` names is no longer retained: fetch the current version whole"),
  Unavailable: errorResponse("The dataset's manifest is unreadable for now"),
  Error: errorResponse("Any other error (405 carries Allow)"),
};

/** The schemas every document has; each dataset's row schema is added beside them, named after it. */
const SCHEMAS = {
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        properties: { code: { type: "string", enum: [...new Set(Object.values(ERROR_CODES))] }, message: { type: "string" } },
      },
    },
  },
  CatalogEntry: {
    type: "object",
    required: ["name", "version", "generated_at", "rows", "bytes", "pages", "key", "url"],
    properties: {
      name: { type: "string" },
      version: { type: "string" },
      generated_at: { type: "string", format: "date-time" },
      rows: { type: "integer" },
      bytes: { type: "integer" },
      pages: { type: "integer" },
      key: { type: ["string", "null"] },
      url: { type: "string" },
    },
  },
  Catalog: { type: "object", required: ["datasets"], properties: { datasets: { type: "array", items: ref("schemas", "CatalogEntry") } } },
  Row: { type: "object", description: "One row; each dataset's own row schema is the component named after it" },
  Page: {
    type: "object",
    required: ["n", "first_row", "rows", "bytes", "sha256", "url"],
    properties: { n: { type: "integer", minimum: 1 }, first_row: { type: "integer" }, rows: { type: "integer" }, bytes: { type: "integer" }, sha256: { type: "string", pattern: "^[0-9a-f]{64}$" }, url: { type: "string" } },
  },
  VersionIndex: {
    type: "object",
    required: ["dataset", "version", "hash", "generated_at", "rows", "bytes", "key", "columns", "pages", "formats"],
    properties: {
      dataset: { type: "string" },
      version: { type: "string" },
      hash: { type: "string", description: "sha256 of the full body: its ETag" },
      generated_at: { type: "string", format: "date-time" },
      rows: { type: "integer" },
      bytes: { type: "integer" },
      key: { type: ["string", "null"] },
      columns: { type: "array", items: { type: "object" } },
      pages: { type: "array", items: ref("schemas", "Page") },
      formats: { type: "object" },
      previous: { type: ["string", "null"], description: "The version that was current when this one was published" },
      key_changes: { type: ["object", "null"], description: "How many keys this version added, changed and removed against `previous`" },
    },
  },
  Changes: {
    type: "object",
    required: ["dataset", "since", "version", "hash", "rows", "bytes", "index", "pages", "keys"],
    properties: {
      dataset: { type: "string" },
      since: { type: "string" },
      version: { type: "string" },
      hash: { type: "string" },
      rows: { type: "integer" },
      bytes: { type: "integer" },
      index: { type: "string", description: "URL of the current version's index (its pages in order)" },
      pages: {
        type: "object",
        required: ["total", "kept", "new_bytes", "new"],
        properties: { total: { type: "integer" }, kept: { type: "integer" }, new_bytes: { type: "integer" }, new: { type: "array", items: ref("schemas", "Page") } },
      },
      keys: {
        type: ["object", "null"],
        description: "Keyed datasets: the keys to add, replace and drop; null with keys_unavailable saying why",
        properties: { added: { type: "array", items: { type: "string" } }, changed: { type: "array", items: { type: "string" } }, removed: { type: "array", items: { type: "string" } } },
      },
      keys_unavailable: { type: "string" },
    },
  },
};

function components(datasets: readonly PublishedDataset[]): Record<string, unknown> {
  const datasetSchemas = Object.fromEntries(
    datasets.map(({ name, schema }) => {
      const { $schema: _dialect, ...rest } = schema;
      return [name, rest];
    }),
  );
  return { parameters: parameters(datasets), headers: HEADERS, responses: RESPONSES, schemas: { ...SCHEMAS, ...datasetSchemas } };
}

/** The OpenAPI document for these datasets. Pure. */
export function openApiDocument(datasets: readonly PublishedDataset[]): Record<string, unknown> {
  return {
    openapi: "3.1.1",
    info: {
      title: "edgesnap",
      version: "1",
      description:
        "Read-only snapshots of datasets. Every answer carries an ETag and answers If-None-Match with 304; errors are " +
        '{"error":{"code","message"}}. Row schemas: components.schemas.<dataset>.',
    },
    paths: Object.fromEntries(routeSpecs().map((spec) => [spec.path, operations(spec)])),
    components: components(datasets),
  };
}

/** A dataset's row schema, or null when its head or current index is unreadable (that dataset is left out). */
async function publishedDataset(c: AppContext, state: HeadState | null): Promise<PublishedDataset | null> {
  const current = state?.head.current ?? null;
  if (state === null || current === null) return null;
  try {
    const index = await loadIndex({ store: c.var.store, hot: c.var.hot }, state, current);
    return { name: state.head.dataset, schema: rowSchema(state.head.dataset, state.head.description, index.columns) };
  } catch (error) {
    if (error instanceof ProtocolError && error.code === "corrupt") return null;
    throw error;
  }
}

/** A head, or null when it is unreadable. */
async function readableHead(c: AppContext, dataset: string): Promise<HeadState | null> {
  try {
    return (await readHead(c.var.store, dataset))?.value ?? null;
  } catch (error) {
    if (error instanceof ProtocolError && error.code === "corrupt") return null;
    throw error;
  }
}

/** The published datasets: named by the stored catalog (or, before there is one, every head). */
async function publishedDatasets(c: AppContext, catalogStored: boolean): Promise<PublishedDataset[]> {
  const heads = catalogStored
    ? await Promise.all((await readCatalogEntries(c.var.store)).map((entry) => readableHead(c, entry.name)))
    : (await readAllHeads(c.var.store)).heads;
  const datasets = await Promise.all(heads.map((state) => publishedDataset(c, state)));
  return datasets.filter((d): d is PublishedDataset => d !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Serves the document with an ETag of its bytes, cached like the catalog. */
export async function serveOpenApi(c: AppContext): Promise<Response> {
  const catalog = await c.var.store.head(CATALOG_OBJECT_KEY);
  const bytes = new TextEncoder().encode(JSON.stringify(openApiDocument(await publishedDatasets(c, catalog !== null))));
  const etag = strongEtag(await sha256Of(bytes));
  const lastModified = catalog?.uploaded ?? new Date(0);
  const headers = representationHeaders({ kind: "catalog", etag, lastModified, contentLength: bytes.byteLength, freshness: freshnessSeconds(c.env) });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  return new Response(c.req.method === "HEAD" ? null : bytes, { headers });
}
