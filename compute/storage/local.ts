/**
 * The local driver for a one-shot run without `npm start`: the same on-disk R2 bucket that
 * `wrangler dev` serves, reached through wrangler's getPlatformProxy() (which starts a private
 * workerd, about 0.7 s) and the shared R2-binding driver. Under `npm start` runs write through the
 * running local Worker instead (./worker.ts), so two runtimes never share the bucket's files.
 */
import path from "node:path";
import { createR2Store, type R2BucketLike } from "../../contract/r2-store.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { DEFAULT_PERSIST_TO, DEFAULT_WRANGLER_CONFIG } from "../config.ts";
import { liveStateLockHolder } from "../embedded/state-lock.ts";
import { EdgesnapError } from "../errors.ts";
import { nodeSha256 } from "./hash.ts";

export interface LocalStoreOptions {
  /** The wrangler config whose R2 binding to open. Default: `wrangler.toml` in the working directory. */
  configPath?: string;
  /** Like `wrangler dev --persist-to`. Default: `.wrangler/state`. */
  persistTo?: string;
  /** The R2 binding name in the config. Default: `SNAPSHOTS`. */
  binding?: string;
}

/** Disposing the local runtime can hang when its workerd died; give up after this long. */
const DISPOSE_TIMEOUT_MS = 5_000;

/**
 * Opens the local R2 bucket through a private local runtime.
 * @throws {EdgesnapError} "edge" while a live `edgesnap start` holds `persistTo` (its Worker is the
 *   one writer); "storage" when wrangler cannot start it; "config" without the binding
 */
export async function openLocalStore(options: LocalStoreOptions = {}): Promise<ObjectStore> {
  const persistTo = options.persistTo ?? DEFAULT_PERSIST_TO;
  // While `npm start` holds this state, its workerd is the bucket's one writer: a second runtime
  // on the same files would be a second writer (a run whose Worker did not answer must fail).
  const holder = liveStateLockHolder(persistTo);
  if (holder) {
    throw new EdgesnapError(
      "edge",
      `the local Worker of edgesnap start (pid ${holder.pid}), which holds ${persistTo}, did not answer; not opening a second writer on its state`,
    );
  }
  const { getPlatformProxy } = await import("wrangler");
  let proxy: Awaited<ReturnType<typeof getPlatformProxy>>;
  try {
    proxy = await getPlatformProxy({
      configPath: options.configPath ?? DEFAULT_WRANGLER_CONFIG,
      persist: { path: path.join(persistTo, "v3") },
      remoteBindings: false,
    });
  } catch (error) {
    throw new EdgesnapError("storage", `cannot open the local R2 bucket: ${(error as Error).message}`, { cause: error });
  }
  const bucket = (proxy.env as Record<string, unknown>)[options.binding ?? "SNAPSHOTS"] as R2BucketLike | undefined;
  const dispose = () =>
    Promise.race([proxy.dispose(), new Promise<void>((resolve) => setTimeout(resolve, DISPOSE_TIMEOUT_MS).unref())]);
  if (!bucket) {
    await dispose();
    throw new EdgesnapError("config", `wrangler config has no R2 binding named ${options.binding ?? "SNAPSHOTS"}`);
  }
  return createR2Store(bucket, { sha256: nodeSha256, dispose, kind: "local" });
}
