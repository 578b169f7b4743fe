/**
 * Where the per-dataset leases live in R2 (contract/protocol/leases.ts). Kept apart from keys.ts,
 * the storage layout of the snapshots, which changes on its own schedule.
 */

/** R2 prefix of every lease: one small JSON object per dataset. */
export const LEASES_PREFIX = "leases/";

/** R2: the lease of one dataset, changed only by compare-and-swap. */
export function leaseObjectKey(dataset: string): string {
  return `${LEASES_PREFIX}${dataset}.json`;
}
