/**
 * The snapshot contract shared by the compute job and the Worker: names, keys, the manifest, item
 * sharding, run records and the storage interface (the protocol over it is in ./protocol/). Web-standard APIs only: it must load in Node and in workerd alike.
 */
export * from "./names.ts";
export * from "./keys.ts";
export * from "./shards.ts";
export * from "./manifest.ts";
export * from "./head.ts";
export * from "./version-index.ts";
export * from "./items.ts";
export * from "./changes.ts";
export * from "./run-record.ts";
export * from "./admin.ts";
export * from "./format.ts";
export * from "./freshness.ts";
export * from "./storage.ts";
export * from "./retry.ts";
export * from "./pages.ts";
export * from "./media-types.ts";
