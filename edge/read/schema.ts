/**
 * The row schema of a dataset (`/v1/datasets/<name>/schema`): a JSON Schema (2020-12) of one row
 * as the JSON body holds it, built from the manifest's columns, so it describes the values after
 * the serialization rules (compute/run/serialize.ts): dates and datetimes are strings, NaN and
 * infinities are null, integers beyond ±(2^53-1) are strings (the manifest already says "String"
 * for those), and a column is nullable when any of its values is null.
 * https://json-schema.org/draft/2020-12/json-schema-core
 */
import type { Column } from "../../contract/manifest.ts";
import type { ResolvedVersion } from "./versions.ts";
import { sha256Of } from "../../contract/storage.ts";
import type { AppContext } from "../env.ts";
import { freshnessSeconds, notModifiedResponse, representationHeaders, type UrlKind } from "../http/cache-headers.ts";
import { isNotModified, strongEtag } from "../http/conditional.ts";

export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

export type JsonSchema = { [keyword: string]: unknown };

const INTEGER_TYPES = new Set(["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"]);
/** Types polars' JSON writer writes as strings (Time "12:00:01", Duration "PT1.5S", Decimal "1.00"). */
const STRING_TYPES = new Set(["String", "Utf8", "Categorical", "Enum", "Time", "Duration", "Decimal"]);

/** The schema of one value of a polars type, as the JSON body writes it; {} (any value) for types it cannot know. */
function valueSchema(type: string): JsonSchema {
  if (INTEGER_TYPES.has(type)) return { type: "integer" };
  if (type === "Float32" || type === "Float64") return { type: "number" };
  if (type === "Bool" || type === "Boolean") return { type: "boolean" };
  if (type === "Date") return { type: "string", format: "date" };
  if (type === "Datetime") return { type: "string", format: "date-time" };
  if (STRING_TYPES.has(type)) return { type: "string" };
  // The manifest names only the outer type of nested columns, so their items are left open.
  if (type === "List" || type === "FixedSizeList" || type === "Array") return { type: "array" };
  if (type === "Struct") return { type: "object" };
  if (type === "Null") return { type: "null" };
  return {};
}

/** The schema of one column's values: its JSON type, or that type or null when nullable. Pure. */
export function columnSchema(column: Column): JsonSchema {
  const schema = valueSchema(column.type);
  if (column.nullable && typeof schema.type === "string" && schema.type !== "null") schema.type = [schema.type, "null"];
  return { ...schema, $comment: `polars ${column.type}` };
}

/**
 * The JSON Schema of one row of a version: every column required, no other property, titled with
 * the dataset's name and described with the dataset's description. Pure.
 */
export function rowSchema(dataset: string, description: string, columns: readonly Column[]): JsonSchema {
  return {
    $schema: JSON_SCHEMA_DIALECT,
    title: dataset,
    description,
    type: "object",
    properties: Object.fromEntries(columns.map((column) => [column.name, columnSchema(column)])),
    required: columns.map((column) => column.name),
    additionalProperties: false,
  };
}

/**
 * Serves the row schema of a version. Its ETag is the sha256 of its bytes, so versions with the
 * same columns (and description) share one: a client revalidating across publishes gets 304.
 */
export async function serveSchema(c: AppContext, version: ResolvedVersion, kind: UrlKind): Promise<Response> {
  const info = await version.index();
  const bytes = new TextEncoder().encode(JSON.stringify(rowSchema(info.dataset, version.state.head.description, info.columns)));
  const etag = strongEtag(await sha256Of(bytes));
  const lastModified = new Date(info.generated_at);
  const headers = representationHeaders({ kind, dataset: info.dataset, etag, lastModified, version: info.version, contentLength: bytes.byteLength, freshness: freshnessSeconds(c.env) });
  if (isNotModified(c.req.raw.headers, etag, lastModified)) return notModifiedResponse(headers);
  return new Response(c.req.method === "HEAD" ? null : bytes, { headers });
}
