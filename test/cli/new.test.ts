/**
 * `edgesnap new`: the registry edit (pure, on the layouts a registry is written in), and the
 * command against a registry in a temp dir: the module it writes builds and publishes as it is
 * (`edgesnap new x` then `edgesnap run x`), a bad name gets the naming rule, and nothing existing
 * is overwritten.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRegistryEntry, datasetTemplate } from "../../compute/cli/new-dataset.ts";
import { EdgesnapError } from "../../compute/errors.ts";
import { spawnCli } from "../support/processes.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

function add(text: string): string {
  return addRegistryEntry(ts, text, "./new-one.ts", "index.ts");
}

describe("adding an entry to the registry module", () => {
  it("adds to the bundled examples' registry on its one line", () => {
    const text = readFileSync(path.join(ROOT, "compute/examples/index.ts"), "utf8");
    const added = add(text);
    expect(added).toContain('["./airport-delays.ts", "./busiest-routes.ts", "./daily-delays.ts", "./new-one.ts"]');
    expect(added.replace(', "./new-one.ts"', "")).toBe(text);
  });

  it("adds a line in the array's own layout, after a trailing comment, keeping the trailing comma", () => {
    const text = 'const datasets: string[] = [\n  "./a.ts",\n  "./b.ts", // the second\n];\nexport default datasets;\n';
    expect(add(text)).toBe('const datasets: string[] = [\n  "./a.ts",\n  "./b.ts", // the second\n  "./new-one.ts",\n];\nexport default datasets;\n');
  });

  it("adds a line without a trailing comma where the array has none", () => {
    const text = 'export default [\n    "./a.ts" // first\n] satisfies string[];\n';
    expect(add(text)).toBe('export default [\n    "./a.ts", // first\n    "./new-one.ts"\n] satisfies string[];\n');
  });

  it("fills an empty array", () => {
    expect(add("const datasets = [] as string[];\nexport default datasets;\n")).toBe('const datasets = ["./new-one.ts"] as string[];\nexport default datasets;\n');
  });

  it("writes a template whose imports reach compute/ from where the module goes", () => {
    const inExamples = datasetTemplate("x", path.join(ROOT, "compute/examples"));
    expect(inExamples).toContain('import { defineDataset } from "../dataset/define.ts";');
    expect(inExamples).toContain('import { AIRPORTS_CSV, vegaDataPath } from "./vega.ts";');
    expect(inExamples).toContain('  name: "x",');
  });

  it("refuses a registry without a default-exported array literal, saying to list the module by hand", () => {
    expect(() => add("export default loadEverything();\n")).toThrow(EdgesnapError);
    expect(() => add("export default loadEverything();\n")).toThrow('list "./new-one.ts" in it by hand');
  });
});

describe("edgesnap new", () => {
  let work: string;
  let registry: string;
  let env: NodeJS.ProcessEnv;

  /** A real `edgesnap` process per command, as a person runs them one after the other. */
  async function cli(...argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const spawned = spawnCli(argv, env);
    const { code } = await spawned.exit;
    return { code, stdout: spawned.stdout(), stderr: spawned.stderr() };
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-new-"));
    registry = path.join(work, "datasets", "index.ts");
    await mkdir(path.dirname(registry));
    await writeFile(registry, '/** The test\'s registry. */\nconst datasets: string[] = [];\nexport default datasets;\n');
    env = {
      EDGESNAP_DATASETS: registry,
      EDGESNAP_PERSIST_TO: path.join(work, "state"),
      EDGESNAP_TEMP_ROOT: path.join(work, "runs"),
      EDGESNAP_EDGE_URL: "http://127.0.0.1:9",
    };
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("writes a module that builds and publishes as it is: new x, then run x", async () => {
    const created = await cli("new", "state-airports");
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created .*state-airports\.ts and listed it in .*index\.ts\n/);
    expect(await readFile(registry, "utf8")).toContain('const datasets: string[] = ["./state-airports.ts"];');
    const run = await cli("run", "state-airports", "--json");
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { outcome: string; rows: number; version: string };
    expect(result.outcome).toBe("ok");
    expect(result.rows).toBeGreaterThan(10);
    expect(result.version).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{8}$/);
  }, 90_000);

  it("refuses a bad name with the naming rule, writing nothing (exit 2)", async () => {
    const before = await readFile(registry, "utf8");
    for (const name of ["State_Airports", "-leading-dash", "a".repeat(65), "dots.not.allowed"]) {
      const refused = await cli("new", name);
      expect(refused.code, name).toBe(2);
      expect(refused.stderr).toMatch(/^edgesnap: invalid dataset name .*: use 1 to 64 lowercase letters, digits and "-", starting with a letter or digit/);
    }
    expect(await readFile(registry, "utf8")).toBe(before);
  });

  it("never overwrites: a listed dataset, or a module file that exists unlisted, is refused (exit 2)", async () => {
    const module = path.join(path.dirname(registry), "state-airports.ts");
    const moduleText = await readFile(module, "utf8");
    const listed = await cli("new", "state-airports");
    expect(listed.code).toBe(2);
    expect(listed.stderr).toContain("a dataset named state-airports is already listed in");
    expect(await readFile(module, "utf8")).toBe(moduleText);

    const stray = path.join(path.dirname(registry), "half-made.ts");
    await writeFile(stray, "// someone's work\n");
    const before = await readFile(registry, "utf8");
    const unlisted = await cli("new", "half-made");
    expect(unlisted.code).toBe(2);
    expect(unlisted.stderr).toContain("half-made.ts already exists and is not listed in");
    expect(await readFile(stray, "utf8")).toBe("// someone's work\n");
    expect(await readFile(registry, "utf8")).toBe(before);
  });
});
