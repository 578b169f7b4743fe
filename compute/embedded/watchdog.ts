/**
 * A small process that ties a command's whole process tree to the life of whoever started it:
 * `node compute/embedded/watchdog.ts <command> [args...]`, spawned as the leader of its own process
 * group with its stdin a pipe from the parent. The command (wrangler dev) runs in that group, with
 * everything it starts (workerd, esbuild). When the pipe closes, the parent is gone, even if it
 * was SIGKILLed and ran no cleanup: the watchdog SIGKILLs the whole group, itself included.
 *
 * SIGTERM/SIGINT are left to the command (the parent signals the whole group to stop it); the
 * watchdog exits with the command's exit code once it has ended, after killing what it left.
 */
import { spawn } from "node:child_process";
import { listProcesses, signalQuietly } from "../scheduler/proc.ts";

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write("usage: watchdog.ts <command> [args...]\n");
  process.exit(2);
}

function killGroup(): never {
  signalQuietly(-process.pid, "SIGKILL");
  process.exit(137);
}

// The group gets the parent's stop signal; the watchdog outlives the command to clean up after it.
process.on("SIGTERM", () => {});
process.on("SIGINT", () => {});
process.stdin.on("end", killGroup);
process.stdin.on("close", killGroup);
process.stdin.on("error", killGroup);
process.stdin.resume();

const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
child.on("error", (error) => {
  process.stderr.write(`watchdog: cannot start ${command}: ${error.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => {
  // Whatever the command left running in the group (a workerd) goes with it.
  for (const p of listProcesses()) if (p.pgrp === process.pid && p.pid !== process.pid) signalQuietly(p.pid, "SIGKILL");
  process.exit(code ?? 128 + (signal === "SIGINT" ? 2 : signal === "SIGKILL" ? 9 : 15));
});
