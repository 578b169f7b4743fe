/**
 * The machine's resources a scheduler or a run needs, named when they fail: a full temp root names
 * EDGESNAP_TEMP_ROOT (at start, and when a run fills it), a metrics port in use names
 * EDGESNAP_METRICS_PORT, and `npm start`, which two people may run on one machine, moves to a free
 * port and says which. Real processes throughout; the full disk is a small tmpfs mounted in a
 * mount namespace of the command's own (root only), so nothing leaks into the machine's mounts.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNpmStart } from "../support/npm-start.ts";
import { logEntries, spawnCli, waitFor } from "../support/processes.ts";

/** Runs the command with `dir` a tmpfs of `size`, of which all but `leaveKiB` is filled. */
function withSmallTmpfs(dir: string, size: string, leaveKiB: number): string[] {
  const fill = `dd if=/dev/zero of="$0/fill" bs=1k count=$(( $(df -k --output=avail "$0" | tail -1) - ${leaveKiB} )) 2>/dev/null`;
  return ["unshare", "--mount", "sh", "-c", `mount -t tmpfs -o size=${size} tmpfs "$0" && ${fill}; exec "$@"`, dir];
}

function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("unshare", ["--mount", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-resources-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.runIf(canMountTmpfs())("a full temp root", () => {
  const env = () => ({
    EDGESNAP_DATASETS: "test/scheduler/fixtures/disk/datasets.ts",
    EDGESNAP_PERSIST_TO: path.join(work, "state"),
    EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
  });

  it("stops `edgesnap run` at start with one line naming EDGESNAP_TEMP_ROOT (exit 2)", async () => {
    const root = path.join(work, "full");
    await import("node:fs/promises").then((fs) => fs.mkdir(root, { recursive: true }));
    const cli = spawnCli(["run", "disk-hog"], { ...env(), EDGESNAP_TEMP_ROOT: root }, { wrap: withSmallTmpfs(root, "1m", 0), timeoutMs: 60_000 });
    const { code } = await cli.exit;
    expect(code).toBe(2);
    expect(cli.stderr().trim()).toMatch(/^edgesnap: invalid setting EDGESNAP_TEMP_ROOT \(.+: no space left: 0\.0 MiB free\)$/);
  }, 90_000);

  it("fails a run that fills it with a reason naming EDGESNAP_TEMP_ROOT (exit 2)", async () => {
    const root = path.join(work, "filling");
    await import("node:fs/promises").then((fs) => fs.mkdir(root, { recursive: true }));
    // 2 MiB left: enough to start, not for the run's 9 MB of rows.
    const cli = spawnCli(["run", "disk-hog"], { ...env(), EDGESNAP_TEMP_ROOT: root }, { wrap: withSmallTmpfs(root, "8m", 2048), timeoutMs: 120_000 });
    const { code } = await cli.exit;
    expect({ code, stdout: cli.stdout() }).toMatchObject({ code: 2 });
    expect(cli.stdout()).toMatch(/^disk-hog: failed: EDGESNAP_TEMP_ROOT \S+ ran out of space( \(\d+\.\d MiB left\))?: give runs more room there or point EDGESNAP_TEMP_ROOT at a larger disk\. The run said: /m);
  }, 150_000);
});

describe("the metrics port", () => {
  it("in use stops `edgesnap scheduler` with one line naming EDGESNAP_METRICS_PORT (exit 2)", async () => {
    const held = await holdPort();
    try {
      const cli = spawnCli(
        ["scheduler"],
        { EDGESNAP_DATASETS: "test/scheduler/fixtures/output/datasets.ts", EDGESNAP_TEMP_ROOT: path.join(work, "runs"), EDGESNAP_METRICS_PORT: String(held.port), EDGESNAP_EDGE_URL: "http://127.0.0.1:9" },
        { timeoutMs: 60_000 },
      );
      const { code } = await cli.exit;
      expect(code).toBe(2);
      expect(cli.stderr().trim()).toBe(`edgesnap: invalid setting EDGESNAP_METRICS_PORT (port ${held.port} on 127.0.0.1 is in use by another process; choose another, or 0 for any free port)`);
    } finally {
      await held.close();
    }
  }, 90_000);

  it("in use makes `npm start` listen on a free port instead, and say which", async () => {
    const held = await holdPort();
    const system = await startNpmStart({
      EDGESNAP_DATASETS: "test/scheduler/fixtures/output/datasets.ts",
      EDGESNAP_PERSIST_TO: path.join(work, "npm-start-state"),
      EDGESNAP_TEMP_ROOT: path.join(work, "npm-start-runs"),
      EDGESNAP_METRICS_PORT: String(held.port),
    });
    try {
      await system.ready();
      const entries = logEntries(system.output());
      const moved = entries.find((e) => e.event === "metrics-port-in-use")!;
      expect(moved).toMatchObject({ level: "warn", wanted: held.port });
      expect(moved.message).toBe(`EDGESNAP_METRICS_PORT ${held.port} is in use on 127.0.0.1: /healthz and /metrics are on port ${moved.port} instead`);
      expect(entries.find((e) => e.event === "scheduler-started")).toMatchObject({ port: moved.port });
      const health = await waitFor("the moved /healthz", async () => (await fetch(`http://127.0.0.1:${moved.port}/healthz`)).status, 10_000);
      expect(health).toBe(200);
    } finally {
      await system.stop();
      await held.close();
    }
  }, 180_000);
});
