/**
 * Where the bundled example data lives: the `vega-datasets` npm package ships real public data
 * files (3 million US flights of 2001 as Parquet, US airports as CSV), so the examples run offline.
 */
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

/** Absolute path of a file in vega-datasets' data folder, e.g. vegaDataPath("airports.csv"). */
export function vegaDataPath(file: string): string {
  // The package exports only its JS entry (build/index.js); data/ sits beside build/.
  const entry = require.resolve("vega-datasets");
  return path.join(path.dirname(path.dirname(entry)), "data", file);
}

export const FLIGHTS_PARQUET = "flights-3m.parquet";
export const AIRPORTS_CSV = "airports.csv";
