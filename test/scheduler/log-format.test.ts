/**
 * The compute logger's two formats, as pure functions: how a run child's line is merged into the
 * scheduler's log, which entries a person sees and how, and how the format is chosen.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { logFormat } from "../../compute/config.ts";
import { EdgesnapError } from "../../compute/errors.ts";
import { childEntryOf, createLogger, createLogSink, formatFinishedRun, formatHumanLine, logEntry, type LogEntry } from "../../compute/run/logger.ts";

const at = (entry: Partial<LogEntry> & { event: string }): LogEntry => ({ time: "2026-12-01T12:05:03.123Z", level: "info", ...entry });

describe("a run child's line in the scheduler's log", () => {
  const run = { dataset: "airport-delays", run: "9998-abcd" };

  it("becomes an entry with the child's own fields, and the dataset and run the scheduler knows", () => {
    const line = JSON.stringify({ time: "2026-12-01T12:00:00.000Z", level: "warn", event: "closing the store timed out", dataset: "spoofed", run: "spoofed", timeoutMs: 10000 });
    expect(childEntryOf(line, run)).toEqual({ time: "2026-12-01T12:00:00.000Z", level: "warn", event: "closing the store timed out", dataset: "airport-delays", run: "9998-abcd", timeoutMs: 10000 });
  });

  it("reads an older child's `msg` as the event, and fills in what a child left out", () => {
    const entry = childEntryOf(JSON.stringify({ msg: "built", rows: 3, level: "loud" }), run)!;
    expect(entry).toMatchObject({ event: "built", level: "info", rows: 3, ...run });
    expect(entry).not.toHaveProperty("msg");
    expect(Number.isNaN(Date.parse(entry.time))).toBe(false);
  });

  it("is null for a line that is not a JSON object, which the scheduler logs as text", () => {
    for (const line of ["hanging", "[1,2]", "{not json", '"a string"', "null", "    at Object.<anonymous> (file.ts:1:1)"]) expect(childEntryOf(line, run)).toBeNull();
  });
});

describe("the human format", () => {
  it("writes one line per finished run: dataset, outcome, version, rows, size, duration, peak memory", () => {
    const entry = at({ event: "run-finished", dataset: "airport-delays", outcome: "ok", version: "20261201T120503439Z-55f9370a", rows: 3399, bytes: 482_000, durationMs: 1930, peakRssBytes: 531 * 1024 ** 2 });
    expect(formatHumanLine(entry)).toBe("12:05:03 airport-delays  ok  20261201T120503439Z-55f9370a  3,399 rows  470.7 KiB  1.9s  peak 531.0 MiB\n");
  });

  it("gives a failed run its attempt, its retry and its reason in full", () => {
    const reason = `build failed: ${"x".repeat(300)}`;
    const line = formatFinishedRun({ dataset: "d", outcome: "timed-out", reason, durationMs: 90_000, peakRssBytes: null, attempt: 2, willRetry: true, retryInMs: 20_000, consecutiveFailures: 4 });
    expect(line).toBe(`d  TIMED-OUT  90.0s  (attempt 2, retry in 20.0s, 4 failures in a row): ${reason}`);
    expect(formatFinishedRun({ dataset: "d", outcome: "failed", reason: "boom", durationMs: 5, attempt: 3, willRetry: false })).toBe("d  FAILED  5ms  (attempt 3): boom");
  });

  it("leaves out each run's progress and the scheduler's chatter, unless debugging", () => {
    const progress = at({ event: "built", dataset: "d", run: "r1", rows: 3 });
    const chatter = at({ event: "run-started", dataset: "d", run: "r1", pid: 42 });
    const verdict = at({ event: "failed", level: "error", dataset: "d", run: "r1", reason: "boom" });
    const summary = at({ event: "child-output", dataset: "d", run: "r1", stream: "stdout", line: "d: failed: boom" });
    for (const entry of [progress, chatter, verdict, summary, at({ event: "x", level: "debug" })]) expect(formatHumanLine(entry)).toBeNull();
    expect(formatHumanLine(progress, { debug: true })).toBe("12:05:03 d: built rows=3\n");
  });

  it("shows warnings and errors in full, with every field", () => {
    const warning = at({ event: "publish notice failed; the edge will catch up", level: "warn", dataset: "d", run: "r1", error: { message: "connect ECONNREFUSED 127.0.0.1:8787" } });
    expect(formatHumanLine(warning)).toBe('12:05:03 WARN d: publish notice failed; the edge will catch up error={"message":"connect ECONNREFUSED 127.0.0.1:8787"}\n');
    expect(formatHumanLine(at({ event: "status-server-error", level: "error", message: "EADDRINUSE" }))).toBe("12:05:03 ERROR status-server-error message=EADDRINUSE\n");
    // A child's plain stderr line (a stack trace, a print) is shown as it is.
    expect(formatHumanLine(at({ event: "child-output", level: "warn", dataset: "d", run: "r1", stream: "stderr", line: "TypeError: x is not a function" }))).toBe("12:05:03 d | TypeError: x is not a function\n");
  });
});

describe("choosing the format", () => {
  it("is EDGESNAP_LOG_FORMAT when set, else human on a terminal and json otherwise", () => {
    expect(logFormat({}, true)).toBe("human");
    expect(logFormat({}, false)).toBe("json");
    expect(logFormat({ EDGESNAP_LOG_FORMAT: "json" }, true)).toBe("json");
    expect(logFormat({ EDGESNAP_LOG_FORMAT: " Human " }, false)).toBe("human");
    expect(logFormat({ EDGESNAP_LOG_FORMAT: "" }, false)).toBe("json");
  });

  it("refuses any other value, naming the variable", () => {
    const error = (() => {
      try {
        logFormat({ EDGESNAP_LOG_FORMAT: "pretty" });
      } catch (e) {
        return e;
      }
    })() as EdgesnapError;
    expect(error).toBeInstanceOf(EdgesnapError);
    expect(error.message).toBe('invalid setting EDGESNAP_LOG_FORMAT (expected "human" or "json")');
    expect(error.exitCode).toBe(2);
  });

  it("writes through a sink in the format asked for, and a logger's entries have the one shape", () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let written = "";
    (stream as unknown as PassThrough).on("data", (chunk: Buffer) => (written += chunk.toString()));
    const log = createLogger({ sink: createLogSink({ format: "json", stream }), fields: { dataset: "d" } });
    log.info("built", { rows: 3, error: new Error("kept as its message") });
    const entry = JSON.parse(written) as LogEntry;
    expect(Object.keys(entry).slice(0, 3)).toEqual(["time", "level", "event"]);
    expect(entry).toMatchObject({ level: "info", event: "built", dataset: "d", rows: 3, error: { message: "kept as its message" } });
    // Fields cannot overwrite the entry's own time, level or event.
    expect(logEntry("warn", "e", { level: "info", event: "other", time: "then" })).toMatchObject({ level: "warn", event: "e" });
  });
});
