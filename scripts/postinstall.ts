/**
 * Runs after `npm install`: makes sure nodejs-polars' native binding for this platform is installed.
 *
 * nodejs-polars lists one binding per platform as optional dependencies, and each declares
 * `engines.node >= 22`. npm marks an optional dependency whose engines do not match the Node that
 * runs npm as "inert" and skips it without an error, so on a machine whose own Node is 20 a plain
 * `npm install` leaves polars without its binding. npm runs this script with node_modules/.bin
 * first on PATH, so it runs on the project's Node 22 (the `node` devDependency); when polars does
 * not load, it runs the same npm once more on that Node 22, which installs the binding the lockfile
 * already names and leaves package-lock.json as it is.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const GUARD = "EDGESNAP_POSTINSTALL_RERUN";

function polarsLoads(): boolean {
  try {
    require("nodejs-polars");
    return true;
  } catch {
    return false;
  }
}

if (!polarsLoads()) {
  const npm = process.env.npm_execpath;
  if (process.env[GUARD] || !npm) {
    console.error(`edgesnap: nodejs-polars has no native binding for ${process.platform}-${process.arch} on Node ${process.version}; see the README's notes on the install`);
    process.exit(1);
  }
  console.error(`edgesnap: installing nodejs-polars' native binding with Node ${process.version} (npm ran on an older Node and skipped it)`);
  const rerun = spawnSync(process.execPath, [npm, "install", "--no-audit", "--no-fund"], {
    stdio: "inherit",
    env: { ...process.env, [GUARD]: "1" },
  });
  process.exit(rerun.status ?? 1);
}
