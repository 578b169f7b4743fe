/**
 * The build both sides of the heartbeat benchmark run: nodejs-polars reads the 3M-row flights
 * Parquet file, groups by origin, sorts and serializes to JSON, like the example datasets do.
 */
import type pl from "nodejs-polars";

export const FLIGHTS_PARQUET = "node_modules/vega-datasets/data/flights-3m.parquet";

/** @returns rows and JSON bytes of the result */
export function buildDelaysByOrigin(polars: typeof pl): { rows: number; bytes: number } {
  const frame = polars
    .readParquet(FLIGHTS_PARQUET)
    .groupBy("origin")
    .agg(polars.col("delay").mean().alias("mean_delay"), polars.col("delay").count().alias("flights"))
    .sort("flights", true);
  const json = frame.writeJSON({ format: "json" }).toString();
  return { rows: frame.height, bytes: Buffer.byteLength(json) };
}
