/**
 * Validation gates: pure checks between build and publish. A snapshot that fails one is rejected
 * (EdgesnapError "gate-rejected", exit code 5) and nothing is published, so a bad build can never
 * replace a good snapshot.
 */
import type { VersionSummary } from "../../contract/index.ts";
import type { DatasetDefinition } from "../dataset/define.ts";
import { EdgesnapError } from "../errors.ts";
import type { FrameFacts } from "./serialize.ts";

/**
 * How many of the newest retained versions the row-drop gate compares against: the largest of
 * their row counts, so halving again and again (1000, 500, 250) cannot creep past the gate.
 */
export const ROW_DROP_WINDOW = 5;

/** The row count the drop gate measures against: the largest among the newest retained versions. */
export function referenceRows(retained: readonly Pick<VersionSummary, "rows">[]): number | null {
  const recent = retained.slice(0, ROW_DROP_WINDOW);
  return recent.length === 0 ? null : Math.max(...recent.map((v) => v.rows));
}

function reject(message: string): never {
  throw new EdgesnapError("gate-rejected", `gate: ${message}`);
}

/**
 * Checks the row gates and, for keyed datasets, that the key column exists and holds no null, no
 * NaN and no duplicate (item lookups depend on it; each key's own form is checked as it is written).
 * @param retained the manifest's retained versions, newest first, for maxRowDropRatio
 * @param options.rowGates false skips the row-count gates (an operator's forced rebuild)
 * @throws {EdgesnapError} "gate-rejected" naming the first gate that failed
 */
export function checkGates(
  facts: FrameFacts,
  definition: Pick<DatasetDefinition, "key" | "gates">,
  retained: readonly Pick<VersionSummary, "rows">[],
  options: { rowGates?: boolean } = {},
): void {
  if (options.rowGates !== false) checkRows(facts.rows, definition.gates, retained);
  if (definition.key !== null) checkKey(facts, definition.key);
}

function checkRows(rows: number, gates: DatasetDefinition["gates"], retained: readonly Pick<VersionSummary, "rows">[]): void {
  const { minRows, maxRows, maxRowDropRatio } = gates;
  if (rows < minRows) reject(`${rows} rows, fewer than minRows ${minRows}`);
  if (maxRows !== undefined && rows > maxRows) reject(`${rows} rows, more than maxRows ${maxRows}`);
  const reference = referenceRows(retained);
  if (maxRowDropRatio !== undefined && reference !== null && reference > 0) {
    const drop = (reference - rows) / reference;
    if (drop > maxRowDropRatio) {
      reject(
        `${rows} rows is a ${(drop * 100).toFixed(1)}% drop from ${reference}, the most rows among the last ${ROW_DROP_WINDOW} versions (maxRowDropRatio ${maxRowDropRatio})`,
      );
    }
  }
}

function checkKey(facts: FrameFacts, key: string): void {
  if (facts.key === null) reject(`key column "${key}" is missing (columns: ${facts.names.join(", ")})`);
  const { nulls, nans, distinct, duplicateExample } = facts.key;
  if (nulls > 0) reject(`key column "${key}" has ${nulls} null values`);
  if (nans > 0) reject(`key column "${key}" has ${nans} NaN values (a NaN cannot be looked up)`);
  if (distinct < facts.rows) {
    reject(`key column "${key}" has ${facts.rows - distinct} duplicate values${duplicateExample === null ? "" : `, e.g. ${JSON.stringify(duplicateExample.slice(0, 80))}`}`);
  }
}
