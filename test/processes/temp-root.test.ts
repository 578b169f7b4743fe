/**
 * A temp root runs cannot use stops every command that runs builds at start, with one line naming
 * EDGESNAP_TEMP_ROOT and exit code 2: a file, a path through a file, a read-only filesystem, a
 * directory under /proc (where a recursive mkdir would spin forever). Nothing is started first.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, spawnCli } from "../support/processes.ts";

/**
 * How to give a command a read-only temp root here: as root, a read-only tmpfs mounted in a mount
 * namespace of its own (nothing leaks into the machine's mounts); otherwise a directory without
 * write permission. Null when neither is possible.
 */
function readOnlyRoot(dir: string): { wrap: string[] } | null {
  if (process.getuid?.() !== 0) return { wrap: [] };
  try {
    execFileSync("unshare", ["--mount", "true"], { stdio: "ignore" });
  } catch {
    return null;
  }
  return { wrap: ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', dir] };
}

describe("a temp root runs cannot use", () => {
  let work: string;
  let cases: { name: string; tempRoot: string; wrap?: string[] }[];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "edgesnap-bad-root-"));
    const file = path.join(work, "a-file");
    await writeFile(file, "not a directory");
    const readOnly = path.join(work, "read-only");
    await mkdir(readOnly);
    const ro = readOnlyRoot(readOnly);
    if (ro && ro.wrap.length === 0) await chmod(readOnly, 0o555);
    cases = [
      { name: "a file", tempRoot: file },
      { name: "a path through a file", tempRoot: path.join(file, "runs") },
      { name: "a directory under /proc", tempRoot: "/proc/edgesnap-runs" },
      ...(ro ? [{ name: "a read-only directory", tempRoot: readOnly, wrap: ro.wrap }] : []),
    ];
  });

  afterAll(async () => {
    await chmod(path.join(work, "read-only"), 0o755).catch(() => {});
    await rm(work, { recursive: true, force: true });
  });

  for (const command of ["scheduler", "start", "run"]) {
    it(`stops \`edgesnap ${command}\` at start with one line naming EDGESNAP_TEMP_ROOT (exit 2)`, async () => {
      const args = command === "start" ? ["start", "--port", String(await freePort())] : command === "run" ? ["run", "proc-colors"] : ["scheduler"];
      const results = await Promise.all(
        cases.map(async ({ name, tempRoot, wrap }) => {
          const cli = spawnCli(
            args,
            {
              EDGESNAP_TEMP_ROOT: tempRoot,
              EDGESNAP_PERSIST_TO: path.join(work, `state-${command}`),
              EDGESNAP_DATASETS: "test/processes/fixtures/datasets.ts",
              EDGESNAP_EDGE_URL: command === "start" ? "" : "http://127.0.0.1:9",
            },
            { timeoutMs: 20_000, wrap },
          );
          const { code } = await cli.exit;
          cli.kill();
          return { name, code, stderr: cli.stderr().trim() };
        }),
      );
      for (const { name, code, stderr } of results) {
        // One line: in particular, no wrangler output, as nothing was started.
        expect({ name, code, lines: stderr.split("\n").length }).toEqual({ name, code: 2, lines: 1 });
        expect(stderr).toMatch(/^edgesnap: invalid setting EDGESNAP_TEMP_ROOT \(.+\)$/);
      }
    }, 60_000);
  }
});
