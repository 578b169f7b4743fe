/**
 * The install works where users are: no dependency the project names directly is a platform
 * binary (a package that declares `os` or `cpu`), so `npm install` never fails with EBADPLATFORM
 * on macOS or Linux arm64; platform bindings arrive through their packages' own optional
 * dependencies. The project declares the Node it runs on, and the postinstall step that fetches
 * polars' binding when npm itself runs on an older Node is wired in.
 *
 * The install is quiet and lean, read from the committed package.json and lockfile: every locked
 * package with an install script is approved in `allowScripts` (npm 11 warns about the others and
 * a later npm blocks them), and the test plugin's wrangler is the top-level one, so one wrangler
 * and one workerd are locked.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  engines?: { node?: string };
  allowScripts?: Record<string, boolean>;
  overrides?: Record<string, unknown>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** The lockfile records each package's declared `os` and `cpu`, whatever platform made it. */
const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; os?: string[]; cpu?: string[]; hasInstallScript?: boolean }>;
};

/** The package name of a lockfile path: `node_modules/a/node_modules/@s/b` is `@s/b`. */
function packageName(lockPath: string): string {
  return lockPath.slice(lockPath.lastIndexOf("node_modules/") + "node_modules/".length);
}

/** Every locked version of `name`, wherever it sits in the tree. */
function lockedVersions(name: string): string[] {
  return Object.entries(lock.packages)
    .filter(([lockPath]) => lockPath !== "" && packageName(lockPath) === name)
    .map(([, entry]) => entry.version ?? "?");
}

describe("package.json", () => {
  const direct = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)];

  it.each(direct)("%s declares no os or cpu (it is not a platform binary)", (name) => {
    const manifest = lock.packages[`node_modules/${name}`];
    expect(manifest, `${name} is in package-lock.json`).toBeDefined();
    expect(manifest?.os, `${name} declares os`).toBeUndefined();
    expect(manifest?.cpu, `${name} declares cpu`).toBeUndefined();
  });

  it("declares Node >= 22 and pins every version exactly", () => {
    expect(pkg.engines?.node).toBe(">=22");
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    }
  });

  it("runs the postinstall step that installs polars' binding when npm ran on an older Node", () => {
    expect(pkg.scripts.postinstall).toBe("node scripts/postinstall.ts");
  });

  it("loads nodejs-polars with its native binding", async () => {
    const pl = (await import("nodejs-polars")).default;
    expect(pl.DataFrame({ a: [1, 2] }).height).toBe(2);
  });
});

describe("a quiet, lean install", () => {
  const withScripts = Object.entries(lock.packages)
    .filter(([lockPath, entry]) => lockPath !== "" && entry.hasInstallScript)
    .map(([lockPath, entry]) => `${packageName(lockPath)}@${entry.version}`);

  it("approves the install script of every locked package that has one, in allowScripts", () => {
    expect(withScripts.length).toBeGreaterThan(0);
    const allowed = pkg.allowScripts ?? {};
    for (const spec of withScripts) {
      const name = spec.slice(0, spec.lastIndexOf("@"));
      expect(allowed[spec] ?? allowed[name], `allowScripts covers ${spec}`).toBe(true);
    }
  });

  it("approves nothing the lockfile does not hold with an install script (no stale approvals)", () => {
    const names = new Set(withScripts.map((spec) => spec.slice(0, spec.lastIndexOf("@"))));
    for (const key of Object.keys(pkg.allowScripts ?? {})) {
      const name = key.lastIndexOf("@") > 0 ? key.slice(0, key.lastIndexOf("@")) : key;
      expect(names.has(name) || withScripts.includes(key), `${key} is a locked package with an install script`).toBe(true);
    }
  });

  it("leaves npm itself nothing to review (npm install-scripts ls)", () => {
    const listed = JSON.parse(execFileSync("npm", ["install-scripts", "ls", "--json"], { cwd: ROOT, encoding: "utf8" })) as { allowScripts: unknown[] };
    expect(listed.allowScripts).toEqual([]);
  });

  it("locks one wrangler, one miniflare and one workerd: the test plugin's are the top level's", () => {
    expect(lockedVersions("wrangler")).toEqual([pkg.devDependencies.wrangler]);
    expect(lockedVersions("miniflare")).toHaveLength(1);
    expect(lockedVersions("workerd")).toHaveLength(1);
    const wranglerEntry = lock.packages["node_modules/wrangler"] as { dependencies?: Record<string, string> };
    expect(lockedVersions("workerd")).toEqual([wranglerEntry.dependencies?.workerd]);
    expect(lockedVersions("miniflare")).toEqual([wranglerEntry.dependencies?.miniflare]);
  });
});
