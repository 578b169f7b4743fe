/**
 * The datasets the publish benchmark runs (EDGESNAP_DATASETS points here): the 3-million-row
 * flights table of vega-datasets with all its columns, as it is, keyed by a row index, and repeated
 * ten times (30 million rows, about 3 GB of JSON). JSON pages only, to compare like with like with
 * DuckDB writing one JSON file.
 */
import { defineDataset } from "../../compute/dataset/define.ts";
import { FLIGHTS_PARQUET, vegaDataPath } from "../../compute/examples/vega.ts";

const limits = { timeoutMs: 15 * 60_000, memoryBytes: 3 * 1024 ** 3 };
/** JSON pages only, like DuckDB writing one JSON file (bench/formats measures the other formats). */
const formats = [] as const;

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
