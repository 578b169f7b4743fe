/**
 * The install works where users are: no dependency the project names directly is a platform
 * binary (a package that declares `os` or `cpu`), so `npm install` never fails with EBADPLATFORM
 * on macOS or Linux arm64; platform bindings arrive through their packages' own optional
 * dependencies. The project declares the Node it runs on, and the postinstall step that fetches
 * polars' binding when npm itself runs on an older Node is wired in.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  engines?: { node?: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** The lockfile records each package's declared `os` and `cpu`, whatever platform made it. */
const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; os?: string[]; cpu?: string[] }>;
};

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
