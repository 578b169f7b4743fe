/**
 * Departure delays per origin airport, keyed by IATA code and joined with the airport's name, city
 * and state: the keyed example (one airport at /v1/datasets/airport-delays/items/ORD).
 */
import { defineDataset } from "../dataset/define.ts";
import { AIRPORTS_CSV, FLIGHTS_PARQUET, vegaDataPath } from "./vega.ts";

export default defineDataset({
  name: "airport-delays",
  description: "Departure delays per US origin airport (2001 H1): flights, mean/median/p95 delay, share delayed > 15 min.",
  schedule: "*/5 * * * *",
  key: "iata",
  gates: { minRows: 100, maxRowDropRatio: 0.5 },
  async build({ pl, sources }) {
    const flights = await sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET));
    const airports = (await sources.scanCsv(vegaDataPath(AIRPORTS_CSV))).select("iata", "name", "city", "state");
    const delay = pl.col("delay");
    return flights
      .groupBy("origin")
      .agg(
        pl.len().alias("flights"),
        delay.mean().round(2).alias("mean_delay_min"),
        delay.median().alias("median_delay_min"),
        delay.quantile(0.95).alias("p95_delay_min"),
        delay.gt(15).cast(pl.Float64).mean().round(4).alias("share_delayed_15"),
      )
      .join(airports, { leftOn: "origin", rightOn: "iata", how: "left" })
      .select(
        pl.col("origin").alias("iata"),
        "name",
        "city",
        "state",
        "flights",
        "mean_delay_min",
        "median_delay_min",
        "p95_delay_min",
        "share_delayed_15",
      )
      // A full, total order: group-by output order is not deterministic, and the content hash is.
      .sort(["flights", "iata"], [true, false]);
  },
});
