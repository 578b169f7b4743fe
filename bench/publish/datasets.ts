/**
 * The datasets the publish benchmark runs (EDGESNAP_DATASETS points here): the 3-million-row
 * flights table of vega-datasets with all its columns, as it is, keyed by a row index, and repeated
 * ten times (30 million rows, about 3 GB of JSON); and the table sorted by date as it grows and
 * changes (`flights-dated`, for the cost of a version: BENCH_FRACTION of its rows, oldest first,
 * and BENCH_EDIT_DAY, a day whose every row's delay is changed). JSON pages only, to compare like
 * with like with DuckDB writing one JSON file.
 */
import { defineDataset } from "../../compute/dataset/define.ts";
import { FLIGHTS_PARQUET, vegaDataPath } from "../../compute/examples/vega.ts";

const limits = { timeoutMs: 15 * 60_000, memoryBytes: 3 * 1024 ** 3 };
/** JSON pages only, like DuckDB writing one JSON file (bench/formats measures the other formats). */
const formats = [] as const;

/** The table sorted by date: BENCH_FRACTION of its rows, oldest first; BENCH_EDIT_DAY's delays changed. */
function datedFlights(name: string) {
  return defineDataset({
    name,
    schedule: "0 0 1 1 *",
    limits,
    formats,
    retain: 100,
    async build({ pl, sources }) {
      const sorted = (await sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET))).sort({ by: "date", maintainOrder: true });
      const kept = sorted.head(Math.round(3_000_000 * Number(process.env.BENCH_FRACTION ?? "1")));
      const day = process.env.BENCH_EDIT_DAY;
      if (!day) return kept;
      const onDay = pl.col("date").dt.strftime("%Y-%m-%d").eq(pl.lit(day));
      // The sum is cast back to the column's integer type: a delay written as 34.0 would change every row.
      return kept.withColumns(pl.when(onDay).then(pl.col("delay").add(1)).otherwise(pl.col("delay")).cast(pl.Int64).alias("delay"));
    },
  });
}

export default [
  defineDataset({
    name: "flights",
    schedule: "0 0 1 1 *",
    limits,
    formats,
    build: ({ sources }) => sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET)),
  }),
  defineDataset({
    name: "flights-keyed",
    schedule: "0 0 1 1 *",
    key: "id",
    limits,
    formats,
    build: async ({ sources }) => (await sources.scanParquet(vegaDataPath(FLIGHTS_PARQUET))).withRowIndex("id"),
  }),
  datedFlights("flights-dated"),
  datedFlights("flights-history"),
  defineDataset({
    name: "flights-x10",
    schedule: "0 0 1 1 *",
    limits,
    formats,
    async build({ pl, sources }) {
      const file = await sources.file(vegaDataPath(FLIGHTS_PARQUET));
      return pl.concat(Array.from({ length: 10 }, () => pl.scanParquet(file)));
    },
  }),
];
