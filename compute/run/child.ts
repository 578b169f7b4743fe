/**
 * The run child: the process the scheduler spawns for each run, so the build's native memory dies
 * with it. `node compute/run/child.ts <dataset>`.
 *
 * - Config comes from the environment (loadConfig); the run dir from EDGESNAP_RUN_DIR when the
 *   scheduler made one (it removes it afterwards too), else a fresh run dir under
 *   EDGESNAP_TEMP_ROOT, named after this process like every run dir (scheduler/temp-root.ts);
 *   EDGESNAP_RUN_ID, when set, is recorded as the version's run_id.
 *   EDGESNAP_FORCE=1 (an operator's forced rebuild) publishes even unchanged content and skips the
 *   row-count gates.
 * - Prints one summary line on stdout; logs on stderr (compute/run/logger.ts: JSON under a supervisor).
 * - With an IPC channel, sends exactly one {type: "result", result} message before exiting.
 * - Exit code 0 for ok/unchanged, else the error's code (3 unknown dataset, 4 build, 5 gate, ...).
 * - SIGTERM/SIGINT stop the run before it publishes (cleanup still runs); a second one exits at once.
 * - With an IPC channel, the parent is watched: when it dies (even by SIGKILL) the channel closes,
 *   and the run removes its run dir and kills itself with everything it started (its process
 *   group, its descendants, its cgroup), so no run outlives its supervisor without a timeout or a
 *   memory ceiling.
 */
import { rmSync } from "node:fs";
import { isDatasetName } from "../../contract/names.ts";
import { loadConfig, loadRunSettings } from "../config.ts";
import { EdgesnapError, toEdgesnapError } from "../errors.ts";
import { killOwnRunCgroup } from "../scheduler/cgroup.ts";
import { findRunProcesses, readProcStat, signalQuietly } from "../scheduler/proc.ts";
import { createRunDir, prepareTempRoot } from "../scheduler/temp-root.ts";
import { createLogger } from "./logger.ts";
import { exitCodeFor, failedResult, formatRunResult, type RunResult, type RunResultMessage } from "./result.ts";
import { previewDatasetByName } from "./preview.ts";
import { runDatasetByName } from "./run.ts";

const started = performance.now();
const name = process.argv[2] ?? "";
const controller = new AbortController();

function onSignal(signal: NodeJS.Signals): void {
  if (controller.signal.aborted) process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  controller.abort(new EdgesnapError("internal", `stopped by ${signal}`));
}
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);

const settings = loadRunSettings();
let runDir = settings.runDir;
/** True when this process made its run dir (so it must remove it on every path). */
let ownRunDir = false;

/**
 * The parent is gone: nobody will enforce this run's limits or clean up after it. Remove the run
 * dir, then SIGKILL everything of the run, this process last.
 */
function dieWithParent(): never {
  if (runDir) rmSync(runDir, { recursive: true, force: true });
  killOwnRunCgroup();
  const self = readProcStat(process.pid);
  const leader = self?.pgrp === process.pid;
  for (const p of findRunProcesses(process.pid, leader ? process.pid : -1)) {
    if (p.pid !== process.pid) signalQuietly(p.pid, "SIGKILL");
  }
  if (leader) signalQuietly(-process.pid, "SIGKILL");
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable");
}
process.once("disconnect", dieWithParent);

let result: RunResult;
try {
  if (!name) throw new EdgesnapError("config", "usage: child.ts <dataset>");
  const config = loadConfig();
  if (!runDir && isDatasetName(name)) {
    await prepareTempRoot(config.tempRoot);
    runDir = await createRunDir(config.tempRoot, name);
    ownRunDir = true;
  }
  // `edgesnap preview` runs this same child, supervised the same way, and publishes nothing.
  result = settings.previewReport
    ? await previewDatasetByName(name, config, { tempDir: runDir!, reportFile: settings.previewReport, sampleRows: settings.previewRows, signal: controller.signal })
    : await runDatasetByName(name, config, {
        tempDir: runDir,
        runId: settings.runId,
        force: settings.force,
        leaseToken: settings.leaseToken,
        signal: controller.signal,
      });
} catch (error) {
  result = failedResult(toEdgesnapError(error), Math.round(performance.now() - started));
}

// The run removes its dir itself, but not when the dataset turned out not to exist.
if (ownRunDir && runDir) rmSync(runDir, { recursive: true, force: true });
process.stdout.write(`${formatRunResult(name || "(none)", result)}\n`);
// This process's own peak (the local store's workerd is a separate process).
createLogger({ fields: { dataset: name } }).info("run finished", { outcome: result.outcome, durationMs: result.durationMs, peakRssBytes: process.resourceUsage().maxRSS * 1024 });
if (process.send) {
  // From here the channel closing is the normal end of the conversation, not the parent's death.
  process.off("disconnect", dieWithParent);
  const message: RunResultMessage = { type: "result", result };
  await new Promise<void>((resolve) => process.send!(message, undefined, {}, () => resolve()));
}
// Exit explicitly: an open IPC channel or polars' thread pool would otherwise keep the process up.
process.exit(exitCodeFor(result));
