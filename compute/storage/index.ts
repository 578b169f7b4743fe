/**
 * Opens the store the configuration names. Drivers are imported lazily so a process only loads
 * the one it uses (the local driver pulls in wrangler; the S3 driver only needs fetch).
 */
import type { StoreConfig } from "../config.ts";
import type { SnapshotStore } from "./store.ts";

export type { SnapshotStore } from "./store.ts";

export async function openStore(config: StoreConfig): Promise<SnapshotStore> {
  if (config.kind === "local") {
    const { openLocalStore } = await import("./local.ts");
    return openLocalStore({ persistTo: config.persistTo, configPath: config.wranglerConfig });
  }
  const { openS3Store } = await import("./s3.ts");
  return openS3Store(config);
}
