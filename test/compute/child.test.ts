/**
 * The run child as the scheduler spawns it: a real Node process with an IPC channel, real polars,
 * the real local store, configured only through the environment.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHead } from "../../contract/protocol/manifests.ts";
import { requireIndex } from "../../contract/protocol/manifests.ts";
import type { RunResultMessage } from "../../compute/run/result.ts";
import { FIXTURE_DATASETS, listKeys, makeTempDir, openLocalTestStore } from "./helpers.ts";

let persist: Awaited<ReturnType<typeof makeTempDir>>;
let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  persist = await makeTempDir("child-persist");
  temp = await makeTempDir("child-temp");
});
afterAll(async () => {
  await persist?.remove();
  await temp?.remove();
});

interface ChildOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  messages: RunResultMessage[];
}

function runChild(args: string[], env: Record<string, string> = {}, onStderr?: (text: string, child: ChildProcess) => void): Promise<ChildOutcome> {
  const child = fork("compute/run/child.ts", args, {
    execPath: process.execPath,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: {
      PATH: process.env.PATH,
      EDGESNAP_PERSIST_TO: persist.dir,
      EDGESNAP_DATASETS: FIXTURE_DATASETS,
      EDGESNAP_TEMP_ROOT: path.join(temp.dir, "runs"),
      EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
      ...env,
    },
  });
  const outcome: ChildOutcome = { code: null, stdout: "", stderr: "", messages: [] };
  child.stdout!.on("data", (chunk: Buffer) => (outcome.stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => {
    outcome.stderr += chunk.toString();
    onStderr?.(outcome.stderr, child);
  });
  child.on("message", (message) => outcome.messages.push(message as RunResultMessage));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ ...outcome, code }));
  });
}

async function withStore<T>(fn: (store: Awaited<ReturnType<typeof openLocalTestStore>>) => Promise<T>): Promise<T> {
  const store = await openLocalTestStore(persist.dir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe("the run child", () => {
  it("publishes, prints one summary line, sends one result message and exits 0", async () => {
    const out = await runChild(["fixture-keyed"], { EDGESNAP_RUN_ID: "run-123" });
    expect(out.code).toBe(0);
    expect(out.messages).toHaveLength(1);
    const { result } = out.messages[0]!;
    expect(out.messages[0]!.type).toBe("result");
    expect(result).toMatchObject({ outcome: "ok", rows: 3, code: null });
    expect(out.stdout).toMatch(new RegExp(`^fixture-keyed: published ${result.version} \\(3 rows, \\d+ bytes\\) in [\\d.]+s\\n$`));
    // stderr carries JSON lines only.
    for (const line of out.stderr.trim().split("\n")) expect(() => JSON.parse(line) as unknown).not.toThrow();
    const index = await withStore(async (store) => {
      const read = (await readHead(store, "fixture-keyed"))!;
      expect(read.value.head.current).toBe(result.version);
      return requireIndex(store, "fixture-keyed", result.version!, read.value);
    });
    expect(index.run_id).toBe("run-123");
    expect(await readdir(path.join(temp.dir, "runs"))).toEqual([]);
  });

  it("exits 0 and reports unchanged when run again on the same content", async () => {
    const out = await runChild(["fixture-keyed"]);
    expect(out.code).toBe(0);
    expect(out.messages[0]!.result.outcome).toBe("unchanged");
    expect(out.stdout).toMatch(/^fixture-keyed: unchanged, still \d{8}T\d{9}Z-[0-9a-f]{8} \(3 rows\)/);
  });

  it("exits 4 with a one-line reason when the build throws, publishes nothing and removes the run dir", async () => {
    const runDir = path.join(temp.dir, "scheduler-made-dir");
    await mkdir(runDir);
    const marker = path.join(temp.dir, "throws-marker");
    const out = await runChild(["fixture-throws"], { EDGESNAP_RUN_DIR: runDir, FIXTURE_TEMP_MARKER: marker });
    expect(out.code).toBe(4);
    expect(out.stdout).toBe("fixture-throws: failed: build failed: upstream source unavailable | second line of detail\n");
    expect(out.messages).toEqual([
      {
        type: "result",
        result: expect.objectContaining({ outcome: "failed", code: "build-failed", version: null, reason: "build failed: upstream source unavailable | second line of detail" }),
      },
    ]);
    expect(await readFile(marker, "utf8")).toBe(runDir);
    expect(existsSync(runDir)).toBe(false);
    expect(await withStore((store) => listKeys(store, "datasets/fixture-throws/"))).toEqual([]);
  });

  it("exits 5 when a gate rejects the snapshot, publishing nothing", async () => {
    const out = await runChild(["fixture-empty"]);
    expect(out.code).toBe(5);
    expect(out.messages[0]!.result).toMatchObject({ outcome: "rejected", code: "gate-rejected", rows: 0 });
    expect(out.stdout).toBe("fixture-empty: rejected: gate: 0 rows, fewer than minRows 1\n");
    expect(await withStore((store) => listKeys(store, "datasets/fixture-empty/"))).toEqual([]);
    // Its private dir (made under the temp root, as no EDGESNAP_RUN_DIR was given) is gone too.
    expect(await readdir(path.join(temp.dir, "runs"))).toEqual([]);
  });

  it("exits 3 for an unknown dataset, still sending one result message", async () => {
    const out = await runChild(["no-such-dataset"]);
    expect(out.code).toBe(3);
    expect(out.messages).toHaveLength(1);
    expect(out.messages[0]!.result).toMatchObject({ outcome: "failed", code: "unknown-dataset" });
    expect(out.stdout).toMatch(/^no-such-dataset: failed: unknown dataset "no-such-dataset" \(known: fixture-keyed, fixture-throws, fixture-slow, fixture-empty, fixture-growing, fixture-large\)\n$/);
  });

  it("exits 2 on invalid configuration", async () => {
    const out = await runChild(["fixture-keyed"], { EDGESNAP_EDGE_URL: "not a url" });
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/failed: invalid setting EDGESNAP_EDGE_URL/);
  });

  it("publishes nothing when stopped by SIGTERM mid-build, and still removes its run dir", async () => {
    const runDir = path.join(temp.dir, "slow-run-dir");
    let signalled = false;
    const out = await runChild(["fixture-slow"], { EDGESNAP_RUN_DIR: runDir }, (stderr, child) => {
      if (!signalled && stderr.includes("fixture-slow waiting")) {
        signalled = true;
        child.kill("SIGTERM");
      }
    });
    expect(signalled).toBe(true);
    // With the local store open, wrangler's runtime exits the process at once (143 = 128 +
    // SIGTERM) after stopping workerd; otherwise the run stops itself and reports why.
    expect([1, 143]).toContain(out.code);
    if (out.code === 1) expect(out.messages[0]!.result).toMatchObject({ outcome: "failed", reason: "stopped by SIGTERM" });
    expect(existsSync(runDir)).toBe(false);
    expect(await withStore((store) => listKeys(store, "datasets/fixture-slow/"))).toEqual([]);
  });
});
