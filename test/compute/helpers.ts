/** Shared set-up for compute tests: temp dirs, a real local store, a log sink, a run config. */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Config } from "../../compute/config.ts";
import type { Logger } from "../../compute/run/logger.ts";
import { createLogger } from "../../compute/run/logger.ts";
import { openStore, type SnapshotStore } from "../../compute/storage/index.ts";

export const FIXTURE_DATASETS = "test/compute/fixtures/datasets.ts";

/** Makes a temp dir and returns it with its remover. */
export async function makeTempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `edgesnap-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Opens the real local store (workerd via wrangler's getPlatformProxy) on a private persist dir. */
export function openLocalTestStore(persistTo: string): Promise<SnapshotStore> {
  return openStore({ kind: "local", persistTo, wranglerConfig: "wrangler.toml" });
}

/** A logger that keeps its records for assertions instead of writing to stderr. */
export function memoryLogger(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  return { log: createLogger({ level: "debug", write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) }), records };
}

/** A run config on a private persist dir and temp root, with an edge URL nobody listens on. */
export function runConfig(persistTo: string, tempRoot: string, overrides: Partial<Config> = {}): Config {
  return {
    store: { kind: "local", persistTo, wranglerConfig: "wrangler.toml" },
    edgeUrl: "http://127.0.0.1:9",
    token: "test-token",
    datasets: FIXTURE_DATASETS,
    tempRoot,
    metricsPort: 0,
    concurrency: 1,
    timezone: "UTC",
    ...overrides,
  };
}

/** Lists every object key under a prefix. */
export async function listKeys(store: SnapshotStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { cursor });
    keys.push(...page.objects.map((object) => object.key));
    cursor = page.cursor;
  } while (cursor);
  return keys.sort();
}
