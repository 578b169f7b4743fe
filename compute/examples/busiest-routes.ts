/**
 * Every origin -> destination route with its flight count, mean delay and distance: the larger
 * example (about 3,400 rows, several item shards), keyed by "ORD-LGA"-style route ids.
 */
import { defineDataset } from "../dataset/define.ts";
import { FLIGHTS_PARQUET, vegaDataPath } from "./vega.ts";

export default defineDataset({
  name: "busiest-routes",
  description: "US domestic routes (2001 H1), busiest first: flights, mean delay, distance.",
  schedule: "*/5 * * * *",
  key: "route",
  gates: { minRows: 1000, maxRowDropRatio: 0.5 },
  async build({ pl, sources }) {
    const flights = await sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET));
    return flights
      .groupBy(["origin", "destination"])
      .agg(
        pl.len().alias("flights"),
        pl.col("delay").mean().round(2).alias("mean_delay_min"),
        pl.col("delay").gt(15).cast(pl.Float64).mean().round(4).alias("share_delayed_15"),
        pl.col("distance").median().round(0).cast(pl.Int64).alias("distance_miles"),
      )
      .select(
        pl.concatString([pl.col("origin"), pl.col("destination")], "-").alias("route"),
        "origin",
        "destination",
        "flights",
        "mean_delay_min",
        "share_delayed_15",
        "distance_miles",
      )
      .sort(["flights", "route"], [true, false]);
  },
});
