/**
 * Validation gates: pure checks between build and publish. A snapshot that fails one is rejected
 * (EdgesnapError "gate-rejected", exit code 5) and nothing is published, so a bad build can never
 * replace a good snapshot.
 */
import type { VersionInfo } from "../../contract/index.ts";
import type { DataFrame, DatasetDefinition } from "../dataset/define.ts";
import { EdgesnapError } from "../errors.ts";

/**
 * Checks the row gates and, for keyed datasets, that the key column exists, has no nulls and
 * holds unique values.
 * @param previous the current version, for maxRowDropRatio (skipped when null)
 * @throws {EdgesnapError} "gate-rejected" naming the first gate that failed
 */
export function checkGates(
  df: DataFrame,
  definition: Pick<DatasetDefinition, "key" | "gates">,
  previous: VersionInfo | null,
  options: { rowGates?: boolean } = {},
): void {
  const reject = (message: string): never => {
    throw new EdgesnapError("gate-rejected", `gate: ${message}`);
  };
  const rows = df.height;
  const { minRows, maxRows, maxRowDropRatio } = definition.gates;
  if (options.rowGates === false) {
    checkKey(df, definition.key, reject);
    return;
  }
  if (rows < minRows) reject(`${rows} rows, fewer than minRows ${minRows}`);
  if (maxRows !== undefined && rows > maxRows) reject(`${rows} rows, more than maxRows ${maxRows}`);
  if (maxRowDropRatio !== undefined && previous && previous.rows > 0) {
    const drop = (previous.rows - rows) / previous.rows;
    if (drop > maxRowDropRatio) {
      reject(`${rows} rows is a ${(drop * 100).toFixed(1)}% drop from ${previous.rows} (maxRowDropRatio ${maxRowDropRatio})`);
    }
  }
  checkKey(df, definition.key, reject);
}

/** The key column exists, has no nulls and unique values (item lookups depend on it). */
function checkKey(df: DataFrame, key: string | null, reject: (message: string) => never): void {
  const rows = df.height;
  if (key !== null) {
    if (!df.columns.includes(key)) reject(`key column "${key}" is missing (columns: ${df.columns.join(", ")})`);
    const column = df.getColumn(key);
    const nulls = column.nullCount();
    if (nulls > 0) reject(`key column "${key}" has ${nulls} null values`);
    const unique = column.nUnique();
    if (unique !== rows) reject(`key column "${key}" has ${rows - unique} duplicate values`);
  }
}
