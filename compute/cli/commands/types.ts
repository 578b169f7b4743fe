/**
 * `edgesnap types [--out FILE]`: writes a TypeScript module with the row type of every published
 * dataset, read from the edge's row schemas (`/v1/datasets/<name>/schema`), for the client:
 * `createClient<Datasets>()` then types `get`, `item` and `pages`, and a misspelt dataset or column
 * does not compile. Public routes only: no token needed.
 */
import { rename, rm, writeFile } from "node:fs/promises";
import { defineCommand } from "citty";
import { EDGE_ARGS, resolveEdgeUrl } from "../../edge-client/connect.ts";
import { EdgesnapError } from "../../errors.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

type JsonSchema = { [keyword: string]: unknown };

/** One dataset's published row schema. */
export interface DatasetSchema {
  name: string;
  schema: JsonSchema;
}

const TS_TYPES: Record<string, string> = {
  string: "string",
  number: "number",
  integer: "number",
  boolean: "boolean",
  null: "null",
  array: "unknown[]",
  object: "{ [key: string]: unknown }",
};

/** The TypeScript type of a column schema: its JSON types joined by `|` (`unknown` when open). Pure. */
export function columnType(schema: JsonSchema): string {
  const types = typeof schema.type === "string" ? [schema.type] : Array.isArray(schema.type) ? (schema.type as string[]) : [];
  const mapped = types.map((type) => TS_TYPES[type] ?? "unknown");
  return mapped.length === 0 || mapped.includes("unknown") ? "unknown" : [...new Set(mapped)].join(" | ");
}

/** A property name as TypeScript needs it: bare when it is an identifier, quoted otherwise. */
function propertyName(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

/** A JSDoc line, with anything that would end the comment defused. */
function docComment(text: unknown, indent: string): string {
  return typeof text === "string" && text.trim() !== "" ? `${indent}/** ${text.replace(/\*\//g, "*\\/").replace(/\s+/g, " ").trim()} */\n` : "";
}

/** The module `edgesnap types` writes for these datasets. Pure. */
export function typesModule(datasets: readonly DatasetSchema[], source: string): string {
  const entries = [...datasets]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ name, schema }) => {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const columns = Object.entries(properties).map(([column, columnSchema]) => `    ${propertyName(column)}: ${columnType(columnSchema)};\n`);
      return `${docComment(schema.description, "  ")}  ${JSON.stringify(name)}: {\n${columns.join("")}  };\n`;
    });
  return (
    `// Row types of the datasets published at ${source}, written by \`edgesnap types\`.\n` +
    "// Regenerate it when a dataset's columns change; edits are lost.\n\n" +
    `export interface Datasets {\n${entries.join("")}}\n`
  );
}

async function getJson(url: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new EdgesnapError("edge", `cannot reach the edge at ${new URL(url).origin} (${cause})`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`.trim();
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // Not the API's error shape; keep the status line.
    }
    throw new EdgesnapError("edge", `GET ${new URL(url).pathname}: ${message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new EdgesnapError("edge", `GET ${new URL(url).pathname} answered something other than JSON`, { cause: error });
  }
}

/**
 * Reads every published dataset's row schema from the edge.
 * @throws {EdgesnapError} "edge" when the edge is unreachable or answers with an error
 */
export async function fetchSchemas(edgeUrl: string): Promise<DatasetSchema[]> {
  const base = edgeUrl.replace(/\/+$/, "");
  const catalog = (await getJson(`${base}/v1/datasets`)) as { datasets?: { name: string }[] };
  const names = (catalog.datasets ?? []).map((entry) => entry.name);
  return Promise.all(names.map(async (name) => ({ name, schema: (await getJson(`${base}/v1/datasets/${encodeURIComponent(name)}/schema`)) as JsonSchema })));
}

const typesCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "types", description: "Write TypeScript row types of every published dataset, for @edgesnap/client" },
    args: {
      out: { type: "string", description: "File to write (default: standard output)" },
      url: EDGE_ARGS.url,
      port: EDGE_ARGS.port,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const edgeUrl = resolveEdgeUrl(args);
      const schemas = await fetchSchemas(edgeUrl);
      const module = typesModule(schemas, edgeUrl);
      if (!args.out) {
        cli.io.stdout(module);
        return;
      }
      await writeModule(args.out, module);
      cli.io.stdout(`wrote the row types of ${schemas.length} datasets to ${args.out}\n`);
    },
  });

/** Written beside and renamed, so a reader (an editor, a watching build) never sees half a file. */
async function writeModule(file: string, module: string): Promise<void> {
  const partial = `${file}.${process.pid}.partial`;
  try {
    await writeFile(partial, module);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw new EdgesnapError("config", `cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
}

export default typesCommand;
