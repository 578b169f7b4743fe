/**
 * The CLI is called in-process through runCli (citty's commands get their IO passed in), so these
 * tests see exactly what a user sees: the lines printed and the exit code.
 */
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../compute/cli/main.ts";
import type { PreviewReport } from "../../compute/run/preview.ts";
import { openLocalStore } from "../../compute/storage/local.ts";
import { listAll } from "../../contract/storage.ts";

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliOn({ terminal: false }, ...argv);
}

/** The CLI as it runs with stdout on a terminal (`terminal`) or on a pipe. */
async function cliOn(options: { terminal: boolean }, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTerminal: options.terminal });
  return { code, stdout, stderr };
}

/** A finished-run line as a person sees it: dataset, outcome, version, rows, size, duration, peak memory. */
const HUMAN_LINE = /^(\S+) {2}(ok|unchanged) {2}(\d{8}T\d{9}Z-[0-9a-f]{8}) {2}([\d,]+) rows {2}([\d.]+ (?:B|KiB|MiB)) {2}([\d.]+m?s) {2}peak ([\d.]+ MiB)\n$/;

describe("edgesnap CLI", () => {
  it("prints usage and exits 2 when called without a command", async () => {
    const { code, stdout } = await cli();
    expect(code).toBe(2);
    expect(stdout).toMatch(/run/);
    expect(stdout).toMatch(/scheduler/);
  });

  it("prints a command's usage for --help and exits 0, plain off a terminal, also after global options", async () => {
    const { code, stdout } = await cli("run", "--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(/DATASET/);
    expect(stdout).not.toContain("\u001b[");
    const after = await cli("--url", "http://127.0.0.1:9", "preview", "--help");
    expect(after.code).toBe(0);
    expect(after.stdout).toContain("USAGE edgesnap preview [OPTIONS] <DATASET>");
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

    it("suggests the closest known dataset for a misspelt name (exit 3)", async () => {
      const { code, stderr } = await cli("run", "cli-color");
      expect(code).toBe(3);
      expect(stderr).toBe('edgesnap: unknown dataset "cli-color"; did you mean "cli-colors"? (known: cli-colors, cli-broken, cli-warns, cli-preview, cli-too-few)\n');
    });

    it("prints one human line per finished run on a terminal, and the machine line with EDGESNAP_LOG_FORMAT=json", async () => {
      const human = await cliOn({ terminal: true }, "run", "cli-colors");
      expect(human.code, human.stderr).toBe(0);
      const [, dataset, outcome, version, rows, size, , peak] = HUMAN_LINE.exec(human.stdout) ?? [];
      expect({ dataset, outcome, rows, size }).toEqual({ dataset: "cli-colors", outcome: "unchanged", rows: "2", size: "59 B" });
      expect(version).toBeDefined();
      expect(Number.parseFloat(peak!)).toBeGreaterThan(10);
      // The child's progress is not shown to a person; its log is still JSON underneath.
      expect(human.stderr).toBe("");

      process.env.EDGESNAP_LOG_FORMAT = "json";
      try {
        const machine = await cliOn({ terminal: true }, "run", "cli-colors");
        expect(machine.code).toBe(0);
        expect(machine.stdout).toBe(`cli-colors: unchanged, still ${version} (2 rows) in ${/in ([\d.]+s)/.exec(machine.stdout)?.[1]}\n`);
        const lines = machine.stderr.trim().split("\n");
        expect(lines.length).toBeGreaterThan(1);
        for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
        expect(lines.map((line) => (JSON.parse(line) as { dataset?: string }).dataset)).toEqual(lines.map(() => "cli-colors"));
      } finally {
        delete process.env.EDGESNAP_LOG_FORMAT;
      }
    }, 60_000);

    it("shows a person a build's warnings in full, and its failure's reason on the run's line", async () => {
      const warns = await cliOn({ terminal: true }, "run", "cli-warns");
      expect(warns.code, warns.stderr).toBe(0);
      // Its first publish: the notice to the edge (nothing listens) fails, a warning too.
      expect(warns.stderr.split("\n")[0]).toBe("warning: the upstream file is 3 days old ageDays=3");
      expect(warns.stderr).not.toContain("build started");
      expect(warns.stdout).toMatch(HUMAN_LINE);

      const broken = await cliOn({ terminal: true }, "run", "cli-broken");
      expect(broken.code).toBe(4);
      expect(broken.stdout).toMatch(/^cli-broken {2}FAILED {2}[\d.]+m?s {2}peak [\d.]+ MiB: build failed: upstream table is missing\n$/);
      expect(broken.stderr).toContain("error: failed");
    }, 60_000);

    it("takes EDGESNAP_LOG_FORMAT=human off a terminal too, and refuses any other value with exit 2", async () => {
      process.env.EDGESNAP_LOG_FORMAT = "human";
      try {
        const human = await cli("run", "cli-colors");
        expect(human.stdout).toMatch(HUMAN_LINE);
        process.env.EDGESNAP_LOG_FORMAT = "pretty";
        const bad = await cli("run", "cli-colors");
        expect(bad.code).toBe(2);
        expect(bad.stderr).toBe('edgesnap: invalid setting EDGESNAP_LOG_FORMAT (expected "human" or "json")\n');
      } finally {
        delete process.env.EDGESNAP_LOG_FORMAT;
      }
    }, 60_000);

    it("exits 4 with the build's reason when the build throws", async () => {
      const { code, stdout } = await cli("run", "cli-broken");
      expect(code).toBe(4);
      expect(stdout).toMatch(/cli-broken: failed: .*upstream table is missing/);
    }, 60_000);

    it("exits 5 naming the gate when a gate rejects the build", async () => {
      const { code, stdout } = await cli("run", "cli-too-few");
      expect(code).toBe(5);
      expect(stdout).toBe("cli-too-few: rejected: gate: 3 rows, fewer than minRows 10\n");
    }, 60_000);

    /** Every object in the local store, with its etag: what "the store is unchanged" compares. */
    async function storeObjects(): Promise<string[]> {
      const store = await openLocalStore({ persistTo: process.env.EDGESNAP_PERSIST_TO! });
      try {
        const objects: string[] = [];
        for await (const page of listAll(store, "")) objects.push(...page.objects.map((o) => `${o.key} ${o.etag} ${o.size}`));
        return objects.sort();
      } finally {
        await store.close();
      }
    }

    it("previews the columns, the first rows, each gate and the pages it would publish, and publishes nothing (the store is unchanged)", async () => {
      expect((await cli("run", "cli-colors")).code).toBe(0);
      const before = await storeObjects();
      expect(before.some((o) => o.startsWith("datasets/cli-colors/"))).toBe(true);
      // What a SIGKILLed preview leaves: its report dir, owned by a process that is gone.
      await mkdir(path.join(process.env.EDGESNAP_TEMP_ROOT!, "run-999999999-1-preview-AbC123"), { recursive: true });
      const { code, stdout, stderr } = await cliOn({ terminal: true }, "preview", "cli-preview");
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("cli-preview: preview (nothing is published)");
      expect(stdout).toMatch(/columns \(3\):\n {2}city +String\n {2}day +Date +nullable\n {2}temp +Float64\n/);
      expect(stdout).toContain("rows: 3\n");
      // The rows as the body carries them: the date written as the serialization rules say.
      expect(stdout).toMatch(/first 3 of 3 rows:\n {2}city +day +temp\n {2}Oslo +2001-01-01 +-3\.5\n {2}Lima +2001-01-02 +19\.25\n {2}Pune +null +31\n/);
      expect(stdout).toContain("ok    minRows: 3 rows, at least 2\n");
      expect(stdout).toContain("ok    maxRowDropRatio: nothing published yet to compare with\n");
      expect(stdout).toContain('ok    key: "city" present, no null, no NaN, no duplicate\n');
      expect(stdout).toMatch(/would publish: 1 page, \d+ B \(\d+ bytes\), hash [0-9a-f]{12}\n {2}page 1: 3 rows/);
      expect(stdout).toContain("a run would publish a new version (nothing is published yet)");
      const after = await storeObjects();
      expect(after.filter((o) => o.startsWith("datasets/cli-preview/"))).toEqual([]);
      expect(after).toEqual(before);
      expect(await readdir(process.env.EDGESNAP_TEMP_ROOT!)).toEqual([]);
    }, 90_000);

    it("previews as JSON for scripts, and says when a run would find the content unchanged", async () => {
      expect((await cli("run", "cli-colors")).code).toBe(0);
      const { code, stdout } = await cli("preview", "cli-colors", "--json", "--rows", "1");
      expect(code).toBe(0);
      const { outcome, report } = JSON.parse(stdout) as { outcome: string; report: PreviewReport };
      expect(outcome).toBe("ok");
      expect(report.sample).toEqual([{ name: "red", hex: "#f00" }]);
      expect(report.rows).toBe(2);
      expect(report.columns.map((c) => `${c.name}:${c.type}`)).toEqual(["name:String", "hex:String"]);
      expect(report.gates.map((g) => [g.gate, g.ok])).toEqual([["minRows", true], ["key", true]]);
      expect(report.publish?.pages).toEqual([{ rows: 2, bytes: 59 }]);
      expect(report.publish?.unchangedFrom).toBe(report.current);
      expect(report.current).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{8}$/);
    }, 90_000);

    it("exits 5 and names the gate when a gate would reject the snapshot, showing the rows all the same", async () => {
      const before = await storeObjects();
      const { code, stdout } = await cli("preview", "cli-too-few");
      expect(code).toBe(5);
      expect(stdout).toContain("FAIL  minRows: 3 rows, fewer than minRows 10\n");
      expect(stdout).toContain("would publish nothing: rejected by the minRows gate\n");
      expect(stdout).toMatch(/first 3 of 3 rows:\n {2}n\n {2}1\n {2}2\n {2}3\n/);
      expect(await storeObjects()).toEqual(before);
    }, 90_000);

    it("previews with run's exit codes for a failed build (4) and an unknown dataset (3, with a suggestion)", async () => {
      const broken = await cli("preview", "cli-broken");
      expect(broken.code).toBe(4);
      expect(broken.stdout).toMatch(/^cli-broken {2}FAILED .*: build failed: upstream table is missing\n$/);
      const unknown = await cli("preview", "cli-previw");
      expect(unknown.code).toBe(3);
      expect(unknown.stderr).toContain('did you mean "cli-preview"?');
    }, 60_000);
  });
});
