/**
 * Row schemas (`/v1/datasets/:name/schema`) and the OpenAPI document (`/openapi.json`), inside
 * workerd: what they say, and that they are cached and revalidated like the snapshots. (Their
 * validity is checked in Node with ajv and swagger-parser: test/front/published.test.ts.)
 */
import { env, SELF } from "cloudflare:test";
import { cacheControlFor } from "../../edge/http/cache-headers.ts";
import { describe, expect, it } from "vitest";
import type { Column } from "../../contract/manifest.ts";
import { sha256Of } from "../../contract/storage.ts";
import { columnSchema, rowSchema } from "../../edge/read/schema.ts";
import { publicRoutes } from "../../edge/read/routes.ts";
import { BASE, publishFakeVersion, uniqueDataset } from "./publish-fixture.ts";

function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

const COLUMNS: Column[] = [
  { name: "iata", type: "String", nullable: false },
  { name: "flights", type: "UInt32", nullable: false },
  { name: "mean_delay", type: "Float64", nullable: true },
  { name: "day", type: "Date", nullable: false },
  { name: "at", type: "Datetime", nullable: true },
  { name: "ok", type: "Bool", nullable: false },
];
const RECORDS = [{ iata: "ORD", flights: 3, mean_delay: 1.5, day: "2001-01-01", at: null, ok: true }];

describe("columnSchema", () => {
  it("gives each column the JSON type its values have after the serialization rules", () => {
    const types = (type: string, nullable = false) => columnSchema({ name: "c", type, nullable });
    expect(types("Int64")).toEqual({ type: "integer", $comment: "polars Int64" });
    expect(types("UInt8").type).toBe("integer");
    expect(types("Float32", true).type).toEqual(["number", "null"]);
    expect(types("Bool").type).toBe("boolean");
    expect(types("Date")).toEqual({ type: "string", format: "date", $comment: "polars Date" });
    expect(types("Datetime", true)).toEqual({ type: ["string", "null"], format: "date-time", $comment: "polars Datetime" });
    for (const type of ["String", "Categorical", "Time", "Duration", "Decimal"]) expect(types(type).type, type).toBe("string");
    expect(types("List").type).toBe("array");
    expect(types("Struct", true).type).toEqual(["object", "null"]);
    expect(types("Null", true).type).toBe("null");
    expect(types("Binary")).toEqual({ $comment: "polars Binary" });
  });
});

describe("GET /v1/datasets/:name/schema", () => {
  it("serves a JSON Schema 2020-12 of one row, titled and described from the manifest", async () => {
    const dataset = uniqueDataset("schema");
    const { info } = await publishFakeVersion(env, { dataset, records: RECORDS, columns: COLUMNS, description: "Delays per airport." });
    const res = await get(`/v1/datasets/${dataset}/schema`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("application/json; charset=utf-8");
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      title: dataset,
      description: "Delays per airport.",
      type: "object",
      properties: {
        iata: { type: "string", $comment: "polars String" },
        flights: { type: "integer", $comment: "polars UInt32" },
        mean_delay: { type: ["number", "null"], $comment: "polars Float64" },
        day: { type: "string", format: "date", $comment: "polars Date" },
        at: { type: ["string", "null"], format: "date-time", $comment: "polars Datetime" },
        ok: { type: "boolean", $comment: "polars Bool" },
      },
      required: ["iata", "flights", "mean_delay", "day", "at", "ok"],
      additionalProperties: false,
    });
    expect(res.headers.get("ETag")).toBe(`"${await sha256Of(text)}"`);
    expect(res.headers.get("X-Edgesnap-Version")).toBe(info.version);
    expect(res.headers.get("Last-Modified")).toBe(new Date(info.generated_at).toUTCString());
    expect(res.headers.get("Cache-Control")).toBe(cacheControlFor("current", 10));
  });

  it("serves a retained version's own columns at its versioned URL, with the dataset's present description and the current bound", async () => {
    const dataset = uniqueDataset("schema-v");
    const { info: first } = await publishFakeVersion(env, { dataset, records: RECORDS, columns: COLUMNS, description: "first words" });
    await publishFakeVersion(env, { dataset, records: [{ only: 1 }], columns: [{ name: "only", type: "Int64", nullable: false }], description: "better words" });
    const old = await get(`/v1/datasets/${dataset}/versions/${first.version}/schema`);
    // Not immutable: the description changed with the second publish, and a year-long cache would keep the first.
    expect(old.headers.get("Cache-Control")).toBe(cacheControlFor("current", 10));
    expect(old.headers.get("Cache-Tag")).toContain(`ds:${dataset}@${first.version}`);
    expect(await old.json()).toEqual(rowSchema(dataset, "better words", COLUMNS));
    expect(((await (await get(`/v1/datasets/${dataset}/schema`)).json()) as { required: string[] }).required).toEqual(["only"]);
  });

  it("keeps its ETag across versions with the same columns, answers 304 to it, and HEAD with headers only", async () => {
    const dataset = uniqueDataset("schema-etag");
    await publishFakeVersion(env, { dataset, records: RECORDS, columns: COLUMNS });
    const etag = (await get(`/v1/datasets/${dataset}/schema`)).headers.get("ETag")!;
    const second = await publishFakeVersion(env, { dataset, records: [{ ...RECORDS[0], flights: 4 }], columns: COLUMNS });
    const res = await get(`/v1/datasets/${dataset}/schema`, { headers: { "If-None-Match": etag } });
    expect(res.status).toBe(304);
    expect(res.headers.get("X-Edgesnap-Version")).toBe(second.info.version);
    const head = await get(`/v1/datasets/${dataset}/schema`, { method: "HEAD" });
    expect(head.headers.get("ETag")).toBe(etag);
    expect(await head.text()).toBe("");
  });

  it("answers 404 for an unknown dataset or version and 400 for malformed ones", async () => {
    const dataset = uniqueDataset("schema-404");
    await publishFakeVersion(env, { dataset, records: RECORDS });
    expect((await get("/v1/datasets/never-published/schema")).status).toBe(404);
    expect((await get(`/v1/datasets/${dataset}/versions/20200101T000000000Z-00000000/schema`)).status).toBe(404);
    expect((await get(`/v1/datasets/${dataset}/versions/nope/schema`)).status).toBe(400);
    expect((await get("/v1/datasets/Bad_Name/schema")).status).toBe(400);
  });
});

/** A Hono route path as the OpenAPI document writes it. */
function documentedPath(path: string): string {
  return `/v1${path}`
    .replace(/\/versions\/:file\{[^}]*\}/, "/versions/{version}.{format}")
    .replace(/:file\{[^}]*\}/, "{name}.{format}")
    .replace(/:(\w+)/g, "{$1}");
}

describe("GET /openapi.json", () => {
  it("documents every public route and has one component schema per published dataset", async () => {
    const a = uniqueDataset("doc-a");
    const b = uniqueDataset("doc-b");
    await publishFakeVersion(env, { dataset: a, records: RECORDS, columns: COLUMNS, description: "A." });
    await publishFakeVersion(env, { dataset: b, records: [{ x: "1" }] });
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toMatch(/^3\.1\./);
    const routes = new Set(publicRoutes().routes.filter((r) => r.method === "GET").map((r) => documentedPath(r.path)));
    expect([...routes].sort()).toEqual(Object.keys(doc.paths).filter((p) => p.startsWith("/v1/")).sort());
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/healthz", "/openapi.json"]));
    for (const path of Object.values(doc.paths)) expect(Object.keys(path).sort()).toEqual(["get", "head"]);
    // Every {param} of a path is declared as a path parameter of its operations, and no other
    // (OpenAPI 3.1 requires it; swagger-parser does not check it for 3.1 documents).
    const parameters = (doc.components as unknown as { parameters: Record<string, { name: string; in: string }> }).parameters;
    for (const [path, item] of Object.entries(doc.paths)) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, operation] of Object.entries(item as Record<string, { parameters: { $ref: string }[] }>)) {
        const declared = operation.parameters.map((p) => parameters[p.$ref.split("/").pop()!]!).filter((p) => p.in === "path").map((p) => p.name);
        expect(declared.sort(), `${method} ${path}`).toEqual(templated);
      }
    }
    // Every local $ref names something the document has.
    const refs = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === "object") {
        for (const [name, value] of Object.entries(node)) {
          if (name === "$ref" && typeof value === "string") refs.add(value);
          else walk(value);
        }
      }
    };
    walk(doc);
    const resolve = (ref: string) => ref.slice(2).split("/").reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], doc);
    expect([...refs].filter((ref) => !ref.startsWith("#/") || resolve(ref) === undefined)).toEqual([]);
    expect(refs.size).toBeGreaterThan(10);
    const { $schema: _, ...expected } = rowSchema(a, "A.", COLUMNS);
    expect(doc.components.schemas[a]).toEqual(expected);
    expect(doc.components.schemas[b]).toMatchObject({ title: b, required: ["x"] });
  });

  it("has an ETag of its bytes, answers 304 to it, and is readable from another origin", async () => {
    const res = await get("/openapi.json", { headers: { Origin: "https://docs.example" } });
    const text = await res.text();
    expect(res.headers.get("ETag")).toBe(`"${await sha256Of(text)}"`);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect((await get("/openapi.json", { headers: { "If-None-Match": res.headers.get("ETag")! } })).status).toBe(304);
    expect((await get("/openapi.json", { method: "POST" })).status).toBe(405);
  });
});
