/**
 * The manifest protocol over the storage interface, written once and used by the compute side, the
 * Worker and the test fixtures: compare-and-swap, publish, rollback, pin, prune, rebuild requests,
 * run records and the catalog.
 */
export * from "./cas.ts";
export * from "./catalog.ts";
export * from "./errors.ts";
export * from "./leases.ts";
export * from "./manifests.ts";
export * from "./requests.ts";
export * from "./runs.ts";
export * from "./collect.ts";
