/**
 * The CLI is called in-process through runCli (citty's commands get their IO passed in), so these
 * tests see exactly what a user sees: the lines printed and the exit code.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../compute/cli/main.ts";

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe("edgesnap CLI", () => {
  it("prints usage and exits 2 when called without a command", async () => {
    const { code, stdout } = await cli();
    expect(code).toBe(2);
    expect(stdout).toMatch(/run/);
    expect(stdout).toMatch(/scheduler/);
  });

  it("prints a command's usage for --help and exits 0", async () => {
    const { code, stdout } = await cli("run", "--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(/DATASET/);
  });

  it("rejects an unknown command with one line and exit code 2", async () => {
    const { code, stderr } = await cli("explode");
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^edgesnap: .*explode/);
  });

  it("rejects `run` without a dataset with exit code 2", async () => {
    const { code, stderr } = await cli("run");
    expect(code).toBe(2);
    expect(stderr).toMatch(/DATASET/);
  });

  describe("run", () => {
    let work: string;
    const saved = { ...process.env };

    beforeAll(async () => {
      work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-cli-"));
      Object.assign(process.env, {
        EDGESNAP_DATASETS: "test/cli/fixtures/datasets.ts",
        EDGESNAP_PERSIST_TO: path.join(work, "state"),
        EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
        // Nothing listens here: the publish notice fails, which must not fail the run.
        EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
      });
    });

    afterAll(async () => {
      process.env = saved;
      await rm(work, { recursive: true, force: true });
    });

    it("exits 3 with one line for a dataset that does not exist", async () => {
      const { code, stderr } = await cli("run", "no-such-dataset");
      expect(code).toBe(3);
      expect(stderr).toMatch(/^edgesnap: .*no-such-dataset/);
      expect(stderr.trim().split("\n")).toHaveLength(1);
    });

    it("publishes, then reports unchanged content without publishing again", async () => {
      const first = await cli("run", "cli-colors");
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^cli-colors: published \d{8}T\d{9}Z-[0-9a-f]{8} \(2 rows/);
      const second = await cli("run", "cli-colors", "--json");
      expect(second.code).toBe(0);
      const result = JSON.parse(second.stdout) as { outcome: string; version: string };
      expect(result.outcome).toBe("unchanged");
      expect(first.stdout).toContain(result.version);
    }, 60_000);

    it("exits 2 with one line naming the module and its error when the dataset's module fails to load, and runs the others", async () => {
      process.env.EDGESNAP_DATASETS = "test/compute/fixtures/registry/index.ts";
      try {
        const broken = await cli("run", "reg-explodes");
        expect(broken.code).toBe(2);
        expect(broken.stderr).toBe("edgesnap: dataset module test/compute/fixtures/registry/reg-explodes.ts failed to load: the module itself is broken\n");
        const fine = await cli("run", "reg-fine");
        expect(fine.code, fine.stderr).toBe(0);
        expect(fine.stdout).toMatch(/^reg-fine: published /);
      } finally {
        process.env.EDGESNAP_DATASETS = "test/cli/fixtures/datasets.ts";
      }
    }, 60_000);

    it("exits 4 with the build's reason when the build throws", async () => {
      const { code, stdout } = await cli("run", "cli-broken");
      expect(code).toBe(4);
      expect(stdout).toMatch(/cli-broken: failed: .*upstream table is missing/);
    }, 60_000);
  });
});
