/**
 * Run records kept in memory (a bounded ring per dataset, for /metrics, logs and the admin side)
 * and, best effort, in the store under `runObjectKey`.
 */
import { storeRunRecord } from "../../contract/protocol/runs.ts";
import type { RunRecord } from "../../contract/run-record.ts";
import type { ObjectStore } from "../../contract/storage.ts";

/** How many records the scheduler keeps per dataset by default. */
export const DEFAULT_RECORDS_PER_DATASET = 50;

/** The newest `capacity` records of each dataset; older ones fall off. */
export class RunRecordRing {
  readonly #capacity: number;
  readonly #byDataset = new Map<string, RunRecord[]>();

  constructor(capacity = DEFAULT_RECORDS_PER_DATASET) {
    this.#capacity = capacity;
  }

  add(record: RunRecord): void {
    const list = this.#byDataset.get(record.dataset) ?? [];
    list.push(record);
    if (list.length > this.#capacity) list.splice(0, list.length - this.#capacity);
    this.#byDataset.set(record.dataset, list);
  }

  /** A dataset's records, oldest first. */
  list(dataset: string): RunRecord[] {
    return [...(this.#byDataset.get(dataset) ?? [])];
  }
}

/** Persists a record somewhere; failures are logged by the scheduler, never fatal. */
export type RecordSink = (record: RunRecord) => Promise<void>;

/** A sink that writes each record as JSON to `runs/<dataset>/<run id>.json` in the store. */
export function storeRecordSink(store: ObjectStore): RecordSink {
  return async function writeRunRecord(record) {
    await storeRunRecord(store, record);
  };
}
