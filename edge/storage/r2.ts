/**
 * The Worker's storage driver: the shared R2-binding driver (contract/r2-store.ts) over
 * `env.SNAPSHOTS`. With edge/storage/kv.ts, the only module that touches a binding.
 */
import { createR2Store, type R2BucketLike } from "../../contract/r2-store.ts";
import { toHex, type ObjectStore, type Sha256Hasher } from "../../contract/storage.ts";

/** An incremental SHA-256 over workerd's DigestStream (Web Crypto's digest() takes one buffer). */
function digestStreamHasher(): Sha256Hasher {
  const stream = new crypto.DigestStream("SHA-256");
  const writer = stream.getWriter();
  let written = Promise.resolve();
  return {
    update(bytes) {
      written = written.then(() => writer.write(bytes));
    },
    async digest() {
      await written;
      await writer.close();
      return toHex(await stream.digest);
    },
  };
}

/** The R2 bucket of snapshots, manifests, requests and run records. */
export function openR2Store(env: Env): ObjectStore {
  return createR2Store(env.SNAPSHOTS as unknown as R2BucketLike, { sha256: digestStreamHasher });
}
