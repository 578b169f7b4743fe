/**
 * Runs one child process for one dataset and makes sure it leaves nothing behind, whichever way it
 * ends: a private run dir that is always removed, a timeout (SIGTERM, grace, SIGKILL of the whole
 * process group and of the run's cgroup where there is one), a resident-memory ceiling sampled
 * from /proc over the child and its descendants, and a validated result message. Nothing the child
 * does can throw out of `superviseRun`. The scheduler and a one-shot `edgesnap run` both use it.
 *
 * If this process dies (even by SIGKILL) the child's result channel closes and the child kills its
 * own run (compute/run/child.ts), so no run outlives its supervisor.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { confirmsContent, RUN_RESULT_OUTCOMES, type RunOutcome } from "../../contract/run-record.ts";
import { childRunEnv, CONFIG_ENV, inheritedEnv } from "../config.ts";
import { EdgesnapError, ERROR_CODES, type ErrorCode } from "../errors.ts";
import { createRunCgroup, type RunCgroup } from "./cgroup.ts";
import {
  findRunProcesses,
  isRunAlive,
  readPeakRssBytes,
  readProcStat,
  readRssBytes,
  signalRun,
  type ProcStat,
} from "./proc.ts";
import { createRunDir, fullTempRootReason } from "./temp-root.ts";

const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** The one IPC message a run child sends: `{ type: "result", result: {...} }`. Untrusted input. */
export const ChildMessageSchema = z.object({
  type: z.literal("result"),
  result: z.object({
    outcome: z.enum(RUN_RESULT_OUTCOMES),
    reason: z.string().nullish(),
    rows: z.number().int().nonnegative().nullish(),
    bytes: z.number().int().nonnegative().nullish(),
    version: z.string().max(200).nullish(),
    hash: z.string().max(200).nullish(),
    durationMs: z.number().nonnegative().nullish(),
    /** The error behind a failed or rejected run; an unknown code counts as none. */
    code: z.enum(ERROR_CODE_NAMES).nullish().catch(null),
  }),
});
export type ChildMessage = z.infer<typeof ChildMessageSchema>;

/** Longest reason kept in a record: reasons come from the child and must stay one short line. */
const MAX_REASON_CHARS = 500;
/** Longest line kept from a child's stdout/stderr; the rest of a longer line is dropped. */
const MAX_LINE_CHARS = 2000;
/** Longest result message read; a longer one is cut, fails to parse and counts as invalid. */
const MAX_MESSAGE_CHARS = 64 * 1024;

export interface SuperviseOptions {
  dataset: string;
  /** The script the child runs: `node [execArgv] <childEntry> <dataset>`. */
  childEntry: string;
  /** Root under which the run's private dir is created. Must exist. */
  tempRoot: string;
  timeoutMs: number;
  /** Ceiling for the resident memory of the child and all its descendants together. */
  memoryBytes: number;
  /** Time between SIGTERM and SIGKILL when a run is stopped. */
  killGraceMs: number;
  /** How often memory is sampled. Default 100 ms. */
  sampleIntervalMs?: number;
  cwd: string;
  /** Extra environment on top of the scheduler's own. */
  env?: NodeJS.ProcessEnv;
  /** Node binary. Default `process.execPath`. */
  nodePath?: string;
  /** Extra Node flags before the entry. The V8 heap cap is always added. */
  execArgv?: string[];
  /** Aborting stops the run like a timeout does (SIGTERM, grace, SIGKILL) with outcome `cancelled`. */
  signal?: AbortSignal;
  /** Each line the child prints, already capped in length, up to `maxOutputLines` per run. */
  onOutput?: (stream: "stdout" | "stderr", line: string) => void;
  /** Default 100. Lines past it are counted, not forwarded. */
  maxOutputLines?: number;
  onSpawn?: (pid: number, runDir: string) => void;
}

export interface SupervisedRun {
  outcome: RunOutcome;
  reason: string | null;
  rows: number | null;
  bytes: number | null;
  version: string | null;
  hash: string | null;
  /** The child's error code for a failed or rejected run (its exit code is ERROR_CODES[code]). */
  code: ErrorCode | null;
  /** Spawn to exit, measured by the scheduler. */
  durationMs: number;
  /** Highest resident memory of the run's processes seen, null if the child never started. */
  peakRssBytes: number | null;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  pid: number | null;
  /** Spawn to the first byte the child wrote (stdout or stderr): start-up cost including module loading. */
  spawnToFirstOutputMs: number | null;
  /** Every process seen in the run (pid and start time), for callers that check for orphans. */
  processes: ProcStat[];
  /** Output lines not forwarded because of `maxOutputLines`. */
  droppedOutputLines: number;
}

const MIB = 1024 * 1024;
/** SIGTERM to SIGKILL when a run times out or is stopped, for the scheduler and `edgesnap run`. */
export const DEFAULT_KILL_GRACE_MS = 5_000;

/**
 * Spawns the run child, watches it and cleans up after it. Never throws for anything the child
 * does; throws only if the run dir cannot be created (the temp root is missing or full).
 */
export async function superviseRun(options: SuperviseOptions): Promise<SupervisedRun> {
  let runDir: string;
  try {
    runDir = await createRunDir(options.tempRoot, options.dataset);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new EdgesnapError("config", `invalid setting ${CONFIG_ENV.tempRoot} (${options.tempRoot}: cannot create the run's dir: ${code})`, { cause: error });
  }
  const cgroup = createRunCgroup(path.basename(runDir));
  try {
    const run = await watchChild(options, runDir, cgroup);
    return confirmsContent(run.outcome) ? run : await blameFullTempRoot(run, options.tempRoot, runDir);
  } finally {
    await fs.rm(runDir, { recursive: true, force: true, maxRetries: 3 });
    cgroup?.remove();
  }
}

/**
 * A run that failed for lack of space in the temp root says so, naming EDGESNAP_TEMP_ROOT, with
 * code "config" (exit 2, like any temp root runs cannot use): polars' own error is often only
 * "wrote 0 rows" or "No space left on device".
 */
async function blameFullTempRoot(run: SupervisedRun, tempRoot: string, runDir: string): Promise<SupervisedRun> {
  const full = await fullTempRootReason(tempRoot, runDir, run.reason);
  if (full === null) return run;
  return { ...run, code: "config", reason: cap(`${full}. The run said: ${run.reason ?? "nothing"}`) };
}

async function watchChild(options: SuperviseOptions, runDir: string, cgroup: RunCgroup | null): Promise<SupervisedRun> {
  // The V8 heap gets three quarters of the ceiling: the rest is for Node itself and native memory
  // (polars), which only the RSS sampler can see.
  const heapMb = Math.max(16, Math.floor((options.memoryBytes * 0.75) / MIB));
  const started = performance.now();
  let child: ChildProcess;
  try {
    child = spawnChild(options, runDir, heapMb);
  } catch (error) {
    return failedToStart(error, started);
  }

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const pid = child.pid ?? null;
  if (pid === null) {
    const { error } = await exited;
    return failedToStart(error, started);
  }
  // At once, before the event loop turns: the child is still starting Node and has forked nothing,
  // so everything it ever forks is born in the cgroup.
  const runCgroup = cgroup?.add(pid) ? cgroup : null;
  options.onSpawn?.(pid, runDir);

  const channel = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  const result = readResultChannel(channel);
  const output = watchOutput(child, options);
  const limits = enforceLimits(pid, runCgroup, options);

  const exit = await exited;
  limits.dispose();
  // The result message can trail the exit event by a tick; the channel closes right after it.
  await Promise.race([result.closed, delay(1000)]);
  // Whatever the run started and left behind dies with it: the group, any descendant seen and
  // everything in its cgroup.
  await killLeftovers(pid, limits.known.values(), runCgroup);
  child.stdout?.destroy();
  child.stderr?.destroy();
  channel.destroy();

  const decided = decideOutcome({
    exit,
    stopped: limits.stopped(),
    heapExhausted: output.heapExhausted,
    heapMb,
    message: result.message(),
    invalidMessage: result.invalid(),
    lastStderrLine: output.lastStderrLine,
  });
  return {
    durationMs: performance.now() - started,
    peakRssBytes: limits.peakRss(),
    exitCode: exit.code,
    exitSignal: exit.signal,
    pid,
    spawnToFirstOutputMs: output.firstAt === null ? null : output.firstAt - started,
    processes: [...limits.known.values()],
    droppedOutputLines: output.dropped,
    ...decided,
  };
}

/** The supervisor's hold on a running child: its limits, the processes seen, its peak memory. */
interface LimitWatch {
  /** Every process seen in the run, by pid. */
  known: Map<number, ProcStat>;
  peakRss(): number | null;
  /** Why the supervisor stopped the run, null while it did not. */
  stopped(): { outcome: RunOutcome; reason: string } | null;
  /** Stops the sampler and the timers (call once the child has exited). */
  dispose(): void;
}

/**
 * Enforces a run's limits: memory sampled every `sampleIntervalMs` over the run's processes (a
 * kill at once above the ceiling), the timeout and the abort signal (SIGTERM, then SIGKILL after
 * the grace period).
 */
function enforceLimits(pid: number, cgroup: RunCgroup | null, options: SuperviseOptions): LimitWatch {
  const known = new Map<number, ProcStat>();
  const self = readProcStat(pid);
  if (self) known.set(pid, self);
  let peakRss: number | null = null;
  let stopReason: { outcome: RunOutcome; reason: string } | null = null;
  const timers: NodeJS.Timeout[] = [];

  const killAll = () => {
    cgroup?.kill();
    signalRun(pid, known.values(), "SIGKILL");
  };
  const stop = (outcome: RunOutcome, reason: string, immediately: boolean) => {
    if (stopReason) return;
    stopReason = { outcome, reason };
    if (immediately) return killAll();
    signalRun(pid, known.values(), "SIGTERM");
    timers.push(setTimeout(killAll, options.killGraceMs));
  };
  const sample = () => {
    const processes = runProcesses(pid, cgroup);
    let total = 0;
    for (const p of processes) {
      if (!known.has(p.pid)) known.set(p.pid, p);
      total += readRssBytes(p.pid);
    }
    if (processes.length === 0) return;
    peakRss = Math.max(peakRss ?? 0, total, readPeakRssBytes(pid));
    if (total > options.memoryBytes) {
      stop("memory-killed", `resident memory ${Math.round(total / MIB)} MiB above the ceiling of ${Math.round(options.memoryBytes / MIB)} MiB`, true);
    }
  };
  sample();
  const sampler = setInterval(sample, options.sampleIntervalMs ?? 100);
  timers.push(setTimeout(() => stop("timed-out", `exceeded the timeout of ${formatSeconds(options.timeoutMs)}`, false), options.timeoutMs));
  // The abort's reason, when a string, says why (the lease was lost); else it is the shutdown.
  const onAbort = () => stop("cancelled", typeof options.signal?.reason === "string" ? options.signal.reason : "stopped by scheduler shutdown", false);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });

  return {
    known,
    peakRss: () => peakRss,
    stopped: () => stopReason,
    dispose() {
      clearInterval(sampler);
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * Spawns `node [execArgv] --max-old-space-size=<heapMb> <entry> <dataset>`. detached: the child
 * leads its own process group, so the group can be signalled as one. The IPC channel is a plain
 * pipe on fd 3 that the child's Node opens as its `process.send` channel (NODE_CHANNEL_FD, as
 * `stdio: "ipc"` would set). We parse it ourselves: with Node's own "ipc" a child that writes a
 * malformed line on fd 3 crashes the parent with a SyntaxError thrown from inside Node's channel
 * reader, which nothing can catch.
 */
function spawnChild(options: SuperviseOptions, runDir: string, heapMb: number): ChildProcess {
  const args = [...(options.execArgv ?? []), `--max-old-space-size=${heapMb}`, options.childEntry, options.dataset];
  return spawn(options.nodePath ?? process.execPath, args, {
    cwd: options.cwd,
    env: {
      ...inheritedEnv(),
      ...options.env,
      ...childRunEnv({ runDir }),
      // The child's log is read back here and re-written in this process's format: it writes JSON.
      [CONFIG_ENV.logFormat]: "json",
      NODE_CHANNEL_FD: "3",
      NODE_CHANNEL_SERIALIZATION_MODE: "json",
    },
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
}

/** What the supervisor learns from a child's stdout and stderr while forwarding capped lines. */
interface OutputWatch {
  /** The last stderr line that says what went wrong (not a stack frame, not Node's footer). */
  lastStderrLine: string;
  heapExhausted: boolean;
  /** When the first byte arrived (performance.now()), null before. */
  firstAt: number | null;
  /** Lines not forwarded because of `maxOutputLines`. */
  dropped: number;
}

function watchOutput(child: ChildProcess, options: SuperviseOptions): OutputWatch {
  const watch: OutputWatch = { lastStderrLine: "", heapExhausted: false, firstAt: null, dropped: 0 };
  const maxLines = options.maxOutputLines ?? 100;
  let forwarded = 0;
  const onLine = (stream: "stdout" | "stderr", line: string) => {
    if (stream === "stderr") {
      const trimmed = line.trim();
      if (trimmed && !trimmed.startsWith("at ") && !/^Node\.js v\d/.test(trimmed) && trimmed !== "^") watch.lastStderrLine = trimmed;
      if (line.includes("heap out of memory") || line.includes("Reached heap limit")) watch.heapExhausted = true;
    }
    if (forwarded < maxLines) {
      forwarded++;
      options.onOutput?.(stream, line);
    } else watch.dropped++;
  };
  const onFirstOutput = () => {
    watch.firstAt ??= performance.now();
  };
  readLines(child.stdout!, (line) => onLine("stdout", line), onFirstOutput);
  readLines(child.stderr!, (line) => onLine("stderr", line), onFirstOutput);
  return watch;
}

const UNKNOWN_FIGURES = { rows: null, bytes: null, version: null, hash: null, code: null };

/** Everything the supervisor knows about how a run ended, for `decideOutcome`. */
export interface RunEnding {
  exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  /** Why the supervisor stopped the run (timeout, memory ceiling, shutdown), null when it did not. */
  stopped: { outcome: RunOutcome; reason: string } | null;
  /** The child's stderr said V8 ran out of heap. */
  heapExhausted: boolean;
  /** The V8 heap cap the child ran with, for the reason. */
  heapMb: number;
  /** The child's result message, null when none valid arrived. */
  message: ChildMessage | null;
  /** Something unparsable arrived on the result channel. */
  invalidMessage: boolean;
  /** The last stderr line that says what went wrong, "" when none. */
  lastStderrLine: string;
}

/** The verdict on a run and the figures kept from its report. */
export type RunVerdict = Pick<SupervisedRun, "outcome" | "reason" | "rows" | "bytes" | "version" | "hash" | "code">;

/**
 * The run's outcome, pure: the supervisor's own reason to stop it wins, then an exhausted V8 heap
 * (memory-killed), then how the child exited and what it reported. A child that reports success
 * but exits non-zero failed; one that reports nothing failed with its last stderr line as reason.
 */
export function decideOutcome(ending: RunEnding): RunVerdict {
  const { exit, message } = ending;
  if (ending.stopped) return { ...UNKNOWN_FIGURES, outcome: ending.stopped.outcome, reason: ending.stopped.reason };
  if (ending.heapExhausted) {
    return { ...UNKNOWN_FIGURES, outcome: "memory-killed", reason: `V8 heap limit reached (--max-old-space-size=${ending.heapMb})` };
  }
  if (exit.error) return { ...UNKNOWN_FIGURES, outcome: "failed", reason: cap(`could not start: ${exit.error.message}`) };
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
  if (!message) {
    const why = ending.invalidMessage ? "sent an invalid result message" : "exited without a result";
    return { ...UNKNOWN_FIGURES, outcome: "failed", reason: cap(`${why} (${how})${ending.lastStderrLine ? `: ${ending.lastStderrLine}` : ""}`) };
  }
  const r = message.result;
  const fields = { rows: r.rows ?? null, bytes: r.bytes ?? null, version: r.version ?? null, hash: r.hash ?? null, code: r.code ?? null };
  if (confirmsContent(r.outcome) && exit.code !== 0) {
    return { ...fields, outcome: "failed", reason: cap(`reported ${r.outcome} but ${how}`) };
  }
  const reason = r.reason ? cap(r.reason) : r.outcome === "ok" ? null : `${r.outcome} (${how})`;
  return { ...fields, outcome: r.outcome, reason };
}

/**
 * Reads the child's result channel: the first valid message wins, anything unparsable is only
 * remembered (a child must not be able to throw in here).
 */
function readResultChannel(channel: NodeJS.ReadableStream): { message(): ChildMessage | null; invalid(): boolean; closed: Promise<void> } {
  let message: ChildMessage | null = null;
  let invalid = false;
  readLines(
    channel,
    (line) => {
      if (message) return;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        invalid = true;
        return;
      }
      const parsed = ChildMessageSchema.safeParse(raw);
      if (parsed.success) message = parsed.data;
      else invalid = true;
    },
    undefined,
    MAX_MESSAGE_CHARS,
  );
  const closed = new Promise<void>((resolve) => {
    channel.once("close", () => resolve());
    channel.once("end", () => resolve());
  });
  return { message: () => message, invalid: () => invalid, closed };
}

/** The run's live processes: its group, its descendants, and (a double fork escapes neither) its cgroup. */
function runProcesses(pid: number, cgroup: RunCgroup | null): ProcStat[] {
  const processes = findRunProcesses(pid, pid);
  if (!cgroup) return processes;
  const seen = new Set(processes.map((p) => p.pid));
  for (const member of cgroup.pids()) {
    const stat = seen.has(member) ? null : readProcStat(member);
    if (stat && stat.state !== "Z") processes.push(stat);
  }
  return processes;
}

/** Kills what is left of a run and waits (up to 2 s) until it is gone, so its run dir can go. */
async function killLeftovers(pgid: number, known: Iterable<ProcStat>, cgroup: RunCgroup | null): Promise<void> {
  const list = [...known];
  cgroup?.kill();
  signalRun(pgid, list, "SIGKILL");
  const alive = () => isRunAlive(pgid, list) || (cgroup?.populated() ?? false);
  for (let waited = 0; waited < 2000 && alive(); waited += 20) await delay(20);
}

/**
 * Splits a stream into lines without ever holding more than one capped line: a child that prints
 * gigabytes without a newline costs the scheduler `limit` characters, not gigabytes.
 */
function readLines(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
  onData?: () => void,
  limit = MAX_LINE_CHARS,
): void {
  let partial = "";
  let overflow = false;
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    onData?.();
    let start = 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", start)) {
      const piece = chunk.slice(start, nl);
      if (!overflow) partial += piece.slice(0, limit - partial.length);
      onLine(partial);
      partial = "";
      overflow = false;
      start = nl + 1;
    }
    if (!overflow) {
      partial += chunk.slice(start, start + limit - partial.length);
      if (partial.length >= limit) overflow = true;
    }
  });
  stream.on("end", () => {
    if (partial) onLine(partial);
  });
  stream.on("error", () => {});
}

function failedToStart(error: unknown, started: number): SupervisedRun {
  return failedRun(`could not start: ${error instanceof Error ? error.message : String(error)}`, performance.now() - started);
}

/** A run that failed before its child could say anything: every figure unknown. */
export function failedRun(reason: string, durationMs: number): SupervisedRun {
  return {
    outcome: "failed",
    reason: cap(reason),
    rows: null,
    bytes: null,
    version: null,
    hash: null,
    code: null,
    durationMs,
    peakRssBytes: null,
    exitCode: null,
    exitSignal: null,
    pid: null,
    spawnToFirstOutputMs: null,
    processes: [],
    droppedOutputLines: 0,
  };
}

function cap(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > MAX_REASON_CHARS ? `${line.slice(0, MAX_REASON_CHARS - 1)}…` : line;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
