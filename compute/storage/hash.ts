/** node:crypto's incremental SHA-256 behind the storage interface's hasher shape. */
import { createHash } from "node:crypto";
import type { Sha256Hasher } from "../../contract/storage.ts";

export function nodeSha256(): Sha256Hasher {
  const hash = createHash("sha256");
  return {
    update: (bytes) => void hash.update(bytes),
    digest: async () => hash.digest("hex"),
  };
}

/** Lowercase hex sha256 of bytes or text. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}
