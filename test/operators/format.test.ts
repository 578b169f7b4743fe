/** The pure parts of the operator commands: table layout, sizes, ages, error and exit-code mapping. */
import { describe, expect, it } from "vitest";
import { errorCodeForStatus } from "../../compute/edge-client/index.ts";
import { formatAge, formatBytes, formatDuration, formatTable } from "../../compute/cli/format.ts";
import { exitCodeForRequest } from "../../compute/cli/commands/rebuild.ts";
import type { RebuildRequest } from "../../contract/index.ts";

describe("operator output", () => {
  it("aligns table columns to the widest cell and trims trailing space", () => {
    expect(formatTable(["A", "LONGER", "C"], [["xxxx", "y", "z"], ["1", "2", ""]])).toBe("A     LONGER  C\nxxxx  y       z\n1     2");
  });

  it("formats sizes, ages and durations for people", () => {
    expect([formatBytes(null), formatBytes(512), formatBytes(1536), formatBytes(250 * 1024 * 1024)]).toEqual(["-", "512 B", "1.5 KiB", "250.0 MiB"]);
    expect([formatAge(null), formatAge(5), formatAge(95), formatAge(7300), formatAge(90_000)]).toEqual(["-", "5s", "1m35s", "2h01m", "1d01h"]);
    expect([formatDuration(420), formatDuration(1234)]).toEqual(["420ms", "1.2s"]);
  });

  it("maps admin API statuses to distinct error codes", () => {
    expect(errorCodeForStatus(401, "x")).toBe("unauthorized");
    expect(errorCodeForStatus(404, "unknown dataset foo")).toBe("unknown-dataset");
    expect(errorCodeForStatus(404, "version v of foo is not retained")).toBe("config");
    expect(errorCodeForStatus(400, "invalid body")).toBe("config");
    expect(errorCodeForStatus(409, "conflict")).toBe("conflict");
    expect(errorCodeForStatus(503, "down")).toBe("edge");
  });

  it("exits rebuild --wait with the run's outcome: 0 ok/unchanged, 5 rejected, 4 other failures", () => {
    const done = (outcome: RebuildRequest["outcome"]) => ({ outcome }) as RebuildRequest;
    expect([done("ok"), done("unchanged"), done("rejected"), done("failed"), done("timed-out"), done("memory-killed")].map(exitCodeForRequest)).toEqual([0, 0, 5, 4, 4, 4]);
  });
});
