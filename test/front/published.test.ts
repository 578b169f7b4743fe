/**
 * What frontend apps and API clients get, end to end in Node: datasets built and published by the
 * real run (real polars) through a real `wrangler dev` (local workerd, R2 on disk in a temp dir),
 * then read over HTTP: the CSV, NDJSON and Parquet downloads hold the JSON's rows, every body
 * validates against its row schema (ajv), /openapi.json is valid OpenAPI 3.1 (swagger-parser), the
 * client reads everything and revalidates from its ETag cache, and `edgesnap types` writes row
 * types that make a misspelt column a compile error.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, EdgesnapError as ClientError } from "../../client/src/index.ts";
import { runCli } from "../../compute/cli/main.ts";
import { defineDataset, type DatasetDefinition } from "../../compute/dataset/define.ts";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { runDataset } from "../../compute/run/run.ts";
import { openWorkerStore } from "../../compute/storage/worker.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { memoryLogger, runConfig } from "../compute/helpers.ts";
import { csvMismatches } from "../support/csv.ts";
import { bodyFromParquet, kitchenSink } from "../support/frames.ts";
import { freePort } from "../support/processes.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "front-test-token-3c1e-0123456789abcdef";
const PAGE_ROWS = 60_000;
let pagesOffset = 0;

const KITCHEN = defineDataset({
  name: "front-kitchen",
  description: "Every kind of value the serialization rules treat specially.",
  schedule: "0 0 1 1 *",
  key: "id",
  build: () => kitchenSink(),
});
/** Rows enough for two pages (a page is ~4 MiB); `pagesOffset` changes its content. */
const PAGED = defineDataset({
  name: "front-paged",
  description: "Many rows, so several pages.",
  schedule: "0 0 1 1 *",
  key: "id",
  build: ({ pl }) =>
    pl.DataFrame({
      id: Array.from({ length: PAGE_ROWS }, (_, i) => `p${String(i).padStart(6, "0")}`),
      value: Array.from({ length: PAGE_ROWS }, (_, i) => i + pagesOffset),
      label: Array.from({ length: PAGE_ROWS }, (_, i) => `row ${i} of a dataset large enough to need more than one page`),
    }),
});
/** A table that grows by appended rows, large enough for several pages: `appended` rows at its end. */
let appended = 0;
const GROWING = defineDataset({
  name: "front-growing",
  schedule: "0 0 1 1 *",
  key: "id",
  formats: [],
  build: ({ pl }) => {
    const n = 150_000 + appended;
    return pl.DataFrame({
      id: Array.from({ length: n }, (_, i) => `g${String(i).padStart(7, "0")}`),
      day: Array.from({ length: n }, (_, i) => `2001-${String(1 + Math.floor(i / 12_500)).padStart(2, "0")}-01`),
      label: Array.from({ length: n }, (_, i) => `row ${i} of a table sorted by day, appended to at its end`),
    });
  },
});
const JSON_ONLY = defineDataset({ name: "front-json-only", schedule: "0 0 1 1 *", formats: [], build: ({ pl }) => pl.DataFrame({ a: [1, 2] }) });

let work: string;
let edge: WranglerDev;
let store: ObjectStore;

async function publish(definition: DatasetDefinition): Promise<string> {
  const result = await runDataset(definition, {
    config: runConfig(path.join(work, "unused"), path.join(work, "runs"), { edgeUrl: edge.url, token: TOKEN }),
    store,
    log: memoryLogger().log,
  });
  expect(result, result.reason ?? "").toMatchObject({ outcome: "ok" });
  return result.version!;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(`${edge.url}${url}`);
  expect(response.status, url).toBe(200);
  return response;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-front-"));
  edge = await startWranglerDev({
    port: await freePort(),
    persistTo: path.join(work, "state"),
    configPath: path.join(REPO_ROOT, "wrangler.toml"),
    secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on" },
    onLine: () => {},
  });
  store = await openWorkerStore({ edgeUrl: edge.url, token: TOKEN });
  for (const definition of [KITCHEN, PAGED, JSON_ONLY, GROWING]) await publish(definition);
}, 240_000);
afterAll(async () => {
  await store?.close();
  await edge?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("formats published by a run, downloaded from the Worker", () => {
  it("CSV, NDJSON and Parquet each hold the JSON body's rows: same rows, same order, same values", async () => {
    for (const dataset of [KITCHEN.name, PAGED.name]) {
      const body = await (await fetchOk(`/v1/datasets/${dataset}`)).text();
      const rows = JSON.parse(body) as Record<string, unknown>[];
      const columns = Object.keys(((await (await fetchOk(`/v1/datasets/${dataset}/schema`)).json()) as { properties: object }).properties);

      const csv = await fetchOk(`/v1/datasets/${dataset}.csv`);
      expect(csv.headers.get("Content-Type")).toBe("text/csv; charset=utf-8");
      expect(csvMismatches(await csv.text(), columns, rows).slice(0, 5), dataset).toEqual([]);

      const ndjson = await (await fetchOk(`/v1/datasets/${dataset}.ndjson`)).text();
      expect(`[${ndjson.slice(0, -1).split("\n").join(",")}]`).toBe(body);

      const parquet = await fetchOk(`/v1/datasets/${dataset}.parquet`);
      const version = parquet.headers.get("X-Edgesnap-Version")!;
      expect(parquet.headers.get("Content-Disposition")).toBe(`attachment; filename="${dataset}-${version}.parquet"`);
      const file = path.join(work, `${dataset}.parquet`);
      await writeFile(file, new Uint8Array(await parquet.arrayBuffer()));
      expect(await bodyFromParquet(file, work)).toBe(body);
    }
  });

  it("a dataset published with formats: [] serves JSON only and 404 for each format", async () => {
    for (const format of ["csv", "ndjson", "parquet"]) {
      const response = await fetch(`${edge.url}/v1/datasets/${JSON_ONLY.name}.${format}`);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(`was published without ${format}`);
    }
    expect(await (await fetchOk(`/v1/datasets/${JSON_ONLY.name}`)).json()).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

/**
 * ajv for JSON Schema 2020-12, with the two formats the row schemas use. Not strict for a whole
 * OpenAPI document, whose keywords outside the schemas ("openapi", "paths") ajv does not know.
 */
function schemaValidator(options: { strict?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: options.strict ?? true });
  ajv.addFormat("date", /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  return ajv;
}

describe("row schemas and the OpenAPI document", () => {
  it("every published body validates against its row schema, and a row with a wrong type, a missing or an extra column does not", async () => {
    const ajv = schemaValidator();
    const { datasets } = (await (await fetchOk("/v1/datasets")).json()) as { datasets: { name: string }[] };
    expect(datasets.map((d) => d.name)).toEqual([GROWING.name, JSON_ONLY.name, KITCHEN.name, PAGED.name]);
    for (const { name } of datasets) {
      const schema = (await (await fetchOk(`/v1/datasets/${name}/schema`)).json()) as { properties: Record<string, { type: string | string[] }> };
      const validRow = ajv.compile(schema);
      const rows = (await (await fetchOk(`/v1/datasets/${name}`)).json()) as Record<string, unknown>[];
      const invalid = rows.filter((row) => !validRow(row));
      expect(invalid.slice(0, 2), `${name}: ${ajv.errorsText(validRow.errors)}`).toEqual([]);

      const [column, columnSchema] = Object.entries(schema.properties)[0]!;
      const wrongValue = [columnSchema.type].flat().includes("string") ? 12 : "twelve";
      expect(validRow({ ...rows[0], [column]: wrongValue }), `${name}.${column} = ${JSON.stringify(wrongValue)}`).toBe(false);
      const { [column]: _, ...missing } = rows[0]!;
      expect(validRow(missing)).toBe(false);
      expect(validRow({ ...rows[0], unexpected: 1 })).toBe(false);
    }
  });

  it("the schema carries the description from the dataset's definition and the JSON types of the rules", async () => {
    const schema = (await (await fetchOk(`/v1/datasets/${KITCHEN.name}/schema`)).json()) as { title: string; description: string; properties: Record<string, { type: unknown }> };
    expect(schema.title).toBe(KITCHEN.name);
    expect(schema.description).toBe(KITCHEN.description);
    expect(schema.properties.big!.type).toEqual(["string", "null"]);
    expect(schema.properties.f!.type).toEqual(["number", "null"]);
    expect(schema.properties.zoned).toMatchObject({ type: ["string", "null"], format: "date-time" });
    expect(schema.properties.d).toMatchObject({ format: "date" });
  });

  it("/openapi.json is valid OpenAPI 3.1, its dataset schemas validate the bodies, and errors match its error shape", async () => {
    const doc = (await (await fetchOk("/openapi.json")).json()) as { components: { schemas: Record<string, object> } };
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining([KITCHEN.name, PAGED.name, JSON_ONLY.name]));
    const ajv = schemaValidator({ strict: false });
    ajv.addSchema({ ...doc, $id: "https://edgesnap.test/openapi.json" }, undefined, undefined, false);
    const validator = (name: string) => ajv.compile({ $ref: `https://edgesnap.test/openapi.json#/components/schemas/${name}` });
    const kitchenRows = (await (await fetchOk(`/v1/datasets/${KITCHEN.name}`)).json()) as unknown[];
    expect(kitchenRows.every((row) => validator(KITCHEN.name)(row))).toBe(true);
    expect(validator("Catalog")(await (await fetchOk("/v1/datasets")).json())).toBe(true);
    const notFound = await fetch(`${edge.url}/v1/datasets/${KITCHEN.name}/items/nope`);
    expect(notFound.status).toBe(404);
    expect(validator("Error")(await notFound.json())).toBe(true);
    expect(validator("Error")({ error: "flat" })).toBe(false);
  });
});

describe("the client in Node against the Worker", () => {
  it("reads the catalog, a dataset, an item and every page of a version", async () => {
    const client = createClient({ baseUrl: edge.url });
    const catalog = await client.catalog();
    expect(catalog.datasets.find((d) => d.name === PAGED.name)).toMatchObject({ rows: PAGE_ROWS, key: "id" });
    const rows = await client.get(PAGED.name);
    expect(rows).toHaveLength(PAGE_ROWS);
    expect(await client.item(PAGED.name, "p000123")).toEqual(rows[123]);
    const pages: unknown[][] = [];
    for await (const page of client.pages(PAGED.name)) pages.push(page);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages.flat()).toEqual(rows);
    expect(await client.schema(PAGED.name)).toMatchObject({ title: PAGED.name, required: ["id", "value", "label"] });
  });

  it("reads a byte range of the body and of a format, and a page by its hash", async () => {
    const client = createClient({ baseUrl: edge.url });
    const body = Buffer.from(await (await fetchOk(`/v1/datasets/${PAGED.name}`)).arrayBuffer());
    const { bytes, total } = await client.range(PAGED.name, { start: 4_000_000, end: 4_300_000 });
    expect(total).toBe(body.length);
    expect(Buffer.from(bytes).equals(body.subarray(4_000_000, 4_300_001))).toBe(true);
    const tail = await client.range(PAGED.name, { start: body.length - 10 });
    expect(Buffer.from(tail.bytes).equals(body.subarray(-10))).toBe(true);
    const csv = Buffer.from(await (await fetchOk(`/v1/datasets/${PAGED.name}.csv`)).arrayBuffer());
    expect(Buffer.from((await client.range(PAGED.name, { start: 5, end: 50, format: "csv" })).bytes).equals(csv.subarray(5, 51))).toBe(true);
    const index = await client.index(PAGED.name);
    expect(await client.page(PAGED.name, index.pages[0]!.sha256)).toEqual(await client.page(PAGED.name, 1));
    await expect(client.range(PAGED.name, { start: body.length + 5 })).rejects.toMatchObject({ status: 416, code: "range_not_satisfiable" });
  });

  it("sends If-None-Match for what it has and serves a 304 from its cache", async () => {
    const seen: { url: string; ifNoneMatch: string | null; status: number }[] = [];
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      seen.push({ url: String(input), ifNoneMatch: new Headers(init?.headers).get("If-None-Match"), status: response.status });
      return response;
    };
    const client = createClient({ baseUrl: edge.url, fetch: recording });
    const first = await client.get(KITCHEN.name);
    const again = await client.get(KITCHEN.name);
    expect(again).toBe(first);
    expect(seen.map(({ ifNoneMatch, status }) => ({ sent: ifNoneMatch !== null, status }))).toEqual([
      { sent: false, status: 200 },
      { sent: true, status: 304 },
    ]);
  });

  it("keeps paging through one version while a new one is published", async () => {
    const client = createClient({ baseUrl: edge.url });
    const before = await client.get(PAGED.name);
    const pages = client.pages(PAGED.name);
    const seen: unknown[][] = [(await pages.next()).value as unknown[]];
    pagesOffset = 1;
    await publish(PAGED);
    for await (const page of pages) seen.push(page);
    expect(seen.flat()).toEqual(before);
    expect((await client.get(PAGED.name))[0]).toMatchObject({ value: 1 });
  });

  it("follows a dataset: a sync after an append fetches only the new pages and assembles exactly the new body", async () => {
    const client = createClient({ baseUrl: edge.url });
    const held = client.follow(GROWING.name);
    const first = await held.sync();
    expect(first).toMatchObject({ changed: true, keptPages: 0 });
    expect(first.fetchedPages).toBeGreaterThan(3);
    const body = await fetchOk(`/v1/datasets/${GROWING.name}`);
    expect(Buffer.from(held.body()).equals(Buffer.from(await body.arrayBuffer()))).toBe(true);

    appended = 1_500;
    const version = await publish(GROWING);
    const second = await held.sync();
    expect(second).toMatchObject({ version, changed: true, keys: { added: expect.any(Array), changed: [], removed: [] } });
    expect(second.keys!.added).toHaveLength(1_500);
    expect(second.keptPages).toBe(first.fetchedPages - 1);
    const now = await fetchOk(`/v1/datasets/${GROWING.name}`);
    const bytes = Buffer.from(await now.arrayBuffer());
    expect(createHash("sha256").update(held.body()).digest("hex")).toBe(now.headers.get("ETag")!.slice(1, -1));
    expect(Buffer.from(held.body()).equals(bytes)).toBe(true);
    // The held version after an append costs the changed pages and two small documents.
    expect(second.fetchedBytes).toBeLessThan(bytes.length * 0.1);
    expect(held.rows()).toHaveLength(151_500);
    expect(await held.sync()).toMatchObject({ version, changed: false, fetchedPages: 0 });
  });

  it("throws EdgesnapError with the API's status, code and message, and wraps network failures", async () => {
    const client = createClient({ baseUrl: edge.url });
    const missing = await client.item(KITCHEN.name, "nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ClientError);
    expect(missing).toMatchObject({ status: 404, code: "not_found", message: expect.stringContaining('no item with key "nope"') });
    expect(await client.get("never-published").catch((e: unknown) => e)).toMatchObject({ status: 404, code: "not_found" });
    const offline = createClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    expect(await offline.catalog().catch((e: unknown) => e)).toMatchObject({ name: "EdgesnapError", status: 0, code: "network" });
  });
});

describe("edgesnap types", () => {
  let types: string;
  let project: string;

  beforeAll(async () => {
    project = path.join(work, "types-project");
    await mkdir(project, { recursive: true });
    const file = path.join(project, "datasets.ts");
    let stdout = "";
    const code = await runCli(["types", "--url", edge.url, "--out", file], { stdout: (t) => (stdout += t), stderr: (t) => (stdout += t) });
    expect(code, stdout).toBe(0);
    types = await readFile(file, "utf8");
    // The client as a consumer gets it: built to plain ESM with declarations.
    const built = spawnSync(process.execPath, [path.join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", path.join(REPO_ROOT, "client"), "--outDir", path.join(project, "client"), "--tsBuildInfoFile", path.join(project, "client.tsbuildinfo")], { encoding: "utf8" });
    expect(built.status, built.stdout).toBe(0);
  }, 60_000);

  it("writes an interface with every published dataset's row type; nullable columns are | null", () => {
    expect(types).toContain("export interface Datasets {");
    expect(types).toContain(`  /** ${KITCHEN.description} */\n  "front-kitchen": {\n    id: string;\n    s: string | null;\n    f: number | null;\n`);
    expect(types).toContain(`  "front-paged": {\n    id: string;\n    value: number;\n    label: string;\n  };`);
    expect(types).toContain("    big: string | null;\n");
    expect(types).toContain("    l: unknown[] | null;\n");
  });

  /** Typechecks `program` against the generated types and the built client; returns tsc's output and status. */
  async function typecheck(name: string, program: string): Promise<{ status: number | null; output: string }> {
    await writeFile(path.join(project, `${name}.ts`), program);
    const config = { compilerOptions: { strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022", "DOM"], types: [], skipLibCheck: false }, files: [`${name}.ts`] };
    await writeFile(path.join(project, `tsconfig.${name}.json`), JSON.stringify(config));
    await writeFile(path.join(project, "package.json"), JSON.stringify({ type: "module" }));
    const tsc = spawnSync(process.execPath, [path.join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", path.join(project, `tsconfig.${name}.json`)], { encoding: "utf8", cwd: project });
    return { status: tsc.status, output: tsc.stdout + tsc.stderr };
  }

  const program = (body: string) => `import { createClient } from "./client/index.js";
import type { Datasets } from "./datasets.js";
const client = createClient<Datasets>({ baseUrl: "http://127.0.0.1:8787" });
export async function use(): Promise<void> {
${body}
}
`;

  it("makes a program using the client compile, and one with a misspelt column or dataset fail to", async () => {
    const good = await typecheck(
      "good",
      program(`  const rows = await client.get("front-paged");
  const value: number = rows[0]!.value;
  const item = await client.item("front-kitchen", "k1");
  const text: string | null = item.s;
  for await (const page of client.pages("front-paged")) {
    const label: string = page[0]!.label;
    console.log(value, text, label);
  }`),
    );
    expect(good, good.output).toEqual({ status: 0, output: "" });

    const column = await typecheck("column", program(`  const rows = await client.get("front-paged");\n  console.log(rows[0]!.valeu);`));
    expect(column.status).not.toBe(0);
    expect(column.output).toMatch(/column\.ts\(6,\d+\): error TS2551: Property 'valeu' does not exist .* Did you mean 'value'\?/);

    const dataset = await typecheck("dataset", program(`  console.log(await client.get("front-pagde"));`));
    expect(dataset.status).not.toBe(0);
    expect(dataset.output).toMatch(/dataset\.ts\(5,\d+\): error TS2345: Argument of type '"front-pagde"'/);

    const nullable = await typecheck("nullable", program(`  const item = await client.item("front-kitchen", "k1");\n  const text: string = item.s;\n  console.log(text);`));
    expect(nullable.output).toMatch(/nullable\.ts\(6,\d+\): error TS2322: Type 'string \| null' is not assignable to type 'string'/);
  });
});
