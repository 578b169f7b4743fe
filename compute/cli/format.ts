/**
 * Plain-text rendering for the operator commands: aligned tables, ages, sizes and durations.
 * Pure functions, so the CLI output is unit-testable without an edge.
 */

export { formatAge, formatBytes, formatDuration } from "../../contract/format.ts";

/** Renders rows as left-aligned columns separated by two spaces, with a header row. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Seconds between an ISO time and `now`. */
export function secondsSince(iso: string, now = Date.now()): number {
  return (now - Date.parse(iso)) / 1000;
}
