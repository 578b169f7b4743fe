/**
 * The storage contract inside workerd, against the Worker's own driver over the R2 binding: the
 * same suite the compute side's drivers pass in Node.
 */
import { env } from "cloudflare:test";
import { describeStoreContract } from "../storage/contract.ts";
import { openR2Store } from "../../edge/storage/r2.ts";

describeStoreContract("r2 binding (workerd)", {
  open: async () => openR2Store(env),
  // Past the driver's 8 MiB part size, with a partial last part: a multipart upload through the binding.
  largeBodyBytes: 17 * 1024 * 1024 + 123,
});
