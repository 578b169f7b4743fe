/**
 * The run child of the heartbeat benchmark: the scheduler's IPC contract around one polars build.
 * Its first output comes once polars is loaded, so spawn-to-first-output is the start-up cost.
 */
import pl from "nodejs-polars";
import { buildDelaysByOrigin } from "./build.ts";

const started = performance.now();
process.stderr.write(`${JSON.stringify({ event: "build-started" })}\n`);
const { rows, bytes } = buildDelaysByOrigin(pl);
const result = { outcome: "ok", reason: null, rows, bytes, version: null, hash: null, durationMs: performance.now() - started };
process.send!({ type: "result", result }, () => process.exit(0));
