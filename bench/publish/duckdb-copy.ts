/**
 * The baseline: DuckDB writing the same rows to one JSON array file, in a process of its own.
 *   node bench/publish/duckdb-copy.ts <parquet> <out.json> [keyed]
 */
import { DuckDBInstance } from "@duckdb/node-api";

const [parquet, out, keyed] = process.argv.slice(2);
const instance = await DuckDBInstance.create(":memory:");
const connection = await instance.connect();
const select = keyed === "keyed" ? `SELECT row_number() OVER () - 1 AS id, * FROM read_parquet('${parquet}')` : `SELECT * FROM read_parquet('${parquet}')`;
await connection.run(`COPY (${select}) TO '${out}' (FORMAT JSON, ARRAY true)`);
connection.closeSync();
instance.closeSync();
