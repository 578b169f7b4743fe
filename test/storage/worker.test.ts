/**
 * The driver `npm start`'s runs write through: the storage contract over the local Worker's storage
 * API, against a real `wrangler dev` (local workerd, R2 on disk in a temp dir).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startWranglerDev, type WranglerDev } from "../../compute/embedded/wrangler-dev.ts";
import { EdgesnapError } from "../../compute/errors.ts";
import { openWorkerStore, WorkerUnreachable } from "../../compute/storage/worker.ts";
import { freePort } from "../support/processes.ts";
import { describeStoreContract } from "./contract.ts";

const TOKEN = "storage-api-test-token-0123456789abcdef";
let work: string;
let edge: WranglerDev;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-storage-api-"));
  edge = await startWranglerDev({
    port: await freePort(),
    persistTo: path.join(work, "state"),
    secrets: { EDGESNAP_TOKEN: TOKEN, EDGESNAP_STORAGE_API: "on" },
    onLine: () => {},
  });
}, 120_000);
afterAll(async () => {
  await edge?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describeStoreContract("local Worker's storage API (wrangler dev)", {
  open: () => openWorkerStore({ edgeUrl: edge.url, token: TOKEN }),
  largeBodyBytes: 17 * 1024 * 1024 + 123,
});

describe("opening the local Worker's storage API", () => {
  test("refuses a wrong token with an unauthorized error", async () => {
    const error = await openWorkerStore({ edgeUrl: edge.url, token: "wrong" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgesnapError);
    expect((error as EdgesnapError).code).toBe("unauthorized");
  });

  test("tells an unreachable Worker apart, so a one-shot run can start its own local runtime", async () => {
    const error = await openWorkerStore({ edgeUrl: `http://127.0.0.1:${await freePort()}`, token: TOKEN }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerUnreachable);
  });

  test("tells a Worker with its storage API off apart too (a plain wrangler dev)", async () => {
    const plain = await startWranglerDev({ port: await freePort(), persistTo: path.join(work, "plain"), secrets: { EDGESNAP_TOKEN: TOKEN }, onLine: () => {} });
    try {
      const error = await openWorkerStore({ edgeUrl: plain.url, token: TOKEN }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerUnreachable);
      expect((error as Error).message).toMatch(/storage API off/);
    } finally {
      await plain.stop();
    }
  }, 120_000);
});
