/** A time series: flights and mean departure delay per day. Dates serialize as "YYYY-MM-DD". */
import { defineDataset } from "../dataset/define.ts";
import { FLIGHTS_PARQUET, vegaDataPath } from "./vega.ts";

export default defineDataset({
  name: "daily-delays",
  description: "US domestic flights per day (2001 H1): flights, mean delay, share delayed > 15 min.",
  schedule: "*/5 * * * *",
  gates: { minRows: 28 },
  async build({ pl, sources }) {
    const flights = await sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET));
    return flights
      .groupBy(pl.col("date").cast(pl.Date).alias("date"))
      .agg(
        pl.len().alias("flights"),
        pl.col("delay").mean().round(2).alias("mean_delay_min"),
        pl.col("delay").gt(15).cast(pl.Float64).mean().round(4).alias("share_delayed_15"),
      )
      .sort("date");
  },
});
