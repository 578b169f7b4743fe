/**
 * The local driver (wrangler's local R2, the bucket `wrangler dev` serves) against the storage
 * contract, in a private persist dir so parallel test files never share a bucket.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { openLocalStore } from "../../compute/storage/local.ts";
import { describeStoreContract } from "./contract.ts";

let persistTo: string;

beforeAll(async () => {
  persistTo = await mkdtemp(path.join(os.tmpdir(), "edgesnap-local-store-"));
});
afterAll(async () => {
  await rm(persistTo, { recursive: true, force: true });
});

describeStoreContract("local (wrangler R2 bindings)", {
  open: () => openLocalStore({ persistTo, configPath: "wrangler.toml" }),
});
