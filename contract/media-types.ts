/** The media types of everything edgesnap stores and serves, named once for both sides. */
import type { Format } from "./manifest.ts";

/** JSON bodies, pages, items, manifests and every API answer. */
export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/** The other formats a version is published in. */
export const FORMAT_CONTENT_TYPES: Record<Format, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson",
  parquet: "application/vnd.apache.parquet",
};

/** Item shards: lines of `<key>\t<record>`. */
export const SHARD_CONTENT_TYPE = "text/tab-separated-values; charset=utf-8";
