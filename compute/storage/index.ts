/**
 * Opens the store the configuration names. Drivers are imported lazily so a process only loads
 * the one it uses (the local runtime pulls in wrangler; the S3 driver only needs fetch).
 *
 * The local store is the on-disk bucket `wrangler dev` serves. While `npm start` runs, runs write it
 * through that local Worker's storage API; a one-shot run with nothing listening starts a private
 * local runtime instead.
 */
import type { ObjectStore } from "../../contract/storage.ts";
import type { Config } from "../config.ts";

export type { ObjectStore } from "../../contract/storage.ts";

export async function openStore(config: Pick<Config, "store" | "edgeUrl" | "token">): Promise<ObjectStore> {
  if (config.store.kind === "s3") {
    const { openS3Store } = await import("./s3.ts");
    return openS3Store(config.store);
  }
  if (config.token) {
    const { openWorkerStore, WorkerUnreachable } = await import("./worker.ts");
    try {
      return await openWorkerStore({ edgeUrl: config.edgeUrl, token: config.token });
    } catch (error) {
      if (!(error instanceof WorkerUnreachable)) throw error;
    }
  }
  const { openLocalStore } = await import("./local.ts");
  return openLocalStore({ persistTo: config.store.persistTo, configPath: config.store.wranglerConfig });
}
