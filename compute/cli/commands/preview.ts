/**
 * `edgesnap preview <dataset>`: what a run would publish, without publishing anything. The build
 * runs in a supervised child exactly as `edgesnap run`'s (the same timeout and memory ceiling,
 * ../one-shot.ts); the child reads the current version, checks every gate, writes the rows and
 * plans the pages, and leaves its report (compute/run/preview.ts) in a private dir of this
 * process, removed on every path (and, after a SIGKILL, swept from the temp root like a run dir).
 *
 * Prints the columns and types, the row count, the first rows as a table, each gate's verdict and
 * the pages and bytes it would publish; `--json` prints the report. Exit codes are `run`'s: 0 it
 * would publish (or find the content unchanged), 5 a gate rejects it (naming the gate), 4 the
 * build failed, 3 unknown dataset...
 */
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { defineCommand } from "citty";
import { formatBytes, formatDuration } from "../../../contract/format.ts";
import { loadConfig, RUN_ENV } from "../../config.ts";
import { EDGE_ARGS, resolveEdgeUrl, resolveToken } from "../../edge-client/connect.ts";
import { EdgesnapError } from "../../errors.ts";
import { DEFAULT_SAMPLE_ROWS, type PreviewReport } from "../../run/preview.ts";
import type { SupervisedRun } from "../../scheduler/supervise.ts";
import { createRunDir, prepareTempRoot, sweepTempRoot } from "../../scheduler/temp-root.ts";
import { withGlobals, type CommandFactory } from "../context.ts";
import { loadOneDataset } from "../datasets.ts";
import { formatTable } from "../format.ts";
import { oneShotExitCode, superviseOneShot } from "../one-shot.ts";
import { formatFinishedRun, outputFormat } from "../output.ts";

/** Widest cell of the rows table; longer values are cut with an ellipsis. */
const MAX_CELL = 32;

function cell(value: unknown): string {
  const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}

/** The first rows as an aligned table, columns in order. Pure. */
export function sampleTable(report: Pick<PreviewReport, "columns" | "sample">): string {
  const names = report.columns.map((column) => column.name);
  const rows = report.sample.map((row) => names.map((name) => cell((row as Record<string, unknown>)[name])));
  return formatTable(names, rows);
}

/** The preview for a person. Pure. */
export function formatPreview(report: PreviewReport): string {
  const lines = [`${report.dataset}: preview (nothing is published)`, "", `columns (${report.columns.length}):`];
  const columns = report.columns.map((column) => [column.name, column.type, column.nullable ? "nullable" : ""]);
  lines.push(...formatTable(["NAME", "TYPE", ""], columns).split("\n").slice(1).map((line) => `  ${line}`));
  lines.push("", `rows: ${report.rows.toLocaleString("en-US")}`);
  if (report.sample.length > 0) {
    lines.push("", `first ${report.sample.length} of ${report.rows.toLocaleString("en-US")} rows:`);
    lines.push(...sampleTable(report).split("\n").map((line) => `  ${line}`));
  }
  lines.push("", "gates:");
  for (const gate of report.gates) lines.push(`  ${gate.ok ? "ok  " : "FAIL"}  ${gate.gate}: ${gate.detail}`);
  lines.push("");
  const { publish } = report;
  if (publish === null) {
    const failed = report.gates.filter((gate) => !gate.ok).map((gate) => gate.gate);
    lines.push(`would publish nothing: rejected by the ${failed.join(", ")} gate${failed.length === 1 ? "" : "s"}`);
  } else {
    const pages = publish.pages.length;
    lines.push(`would publish: ${pages} page${pages === 1 ? "" : "s"}, ${formatBytes(publish.bytes)} (${publish.bytes.toLocaleString("en-US")} bytes), hash ${publish.hash.slice(0, 12)}`);
    for (const [i, page] of publish.pages.entries()) lines.push(`  page ${i + 1}: ${page.rows.toLocaleString("en-US")} rows, ${formatBytes(page.bytes)}`);
    lines.push(
      publish.unchangedFrom
        ? `same content as the current version ${publish.unchangedFrom}: a run would find it unchanged`
        : `a run would publish a new version${report.current ? ` (current: ${report.current})` : " (nothing is published yet)"}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Reads the child's report; null when the child wrote none (its build failed first). */
async function readReport(file: string): Promise<PreviewReport | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as PreviewReport;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new EdgesnapError("internal", `the preview's report is unreadable: ${(error as Error).message}`, { cause: error });
  }
}

/** What `--json` prints: the report and how the child ended. */
function jsonOutput(dataset: string, report: PreviewReport | null, run: SupervisedRun) {
  return { dataset, outcome: run.outcome, reason: run.reason, durationMs: Math.round(run.durationMs), peakRssBytes: run.peakRssBytes, report };
}

const previewCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "preview", description: "Build one dataset as a run would and show what it would publish, publishing nothing" },
    args: {
      dataset: { type: "positional", description: "Dataset name", required: true },
      rows: { type: "string", description: "How many of the first rows to show", default: String(DEFAULT_SAMPLE_ROWS) },
      json: { type: "boolean", description: "Print the report as JSON" },
      url: EDGE_ARGS.url,
      port: EDGE_ARGS.port,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const sampleRows = Number(args.rows);
      if (!/^\d+$/.test(args.rows) || sampleRows > 1000) throw new EdgesnapError("config", `invalid --rows ${args.rows} (0 to 1000)`);
      const format = outputFormat(process.env, cli.io.isTerminal === true);
      const config = loadConfig();
      const edgeUrl = resolveEdgeUrl(args);
      // Read-only, but through the running local Worker when there is one, like a run.
      const token = resolveToken(args, edgeUrl, undefined, config.store.kind === "local" ? config.store.persistTo : undefined);
      await prepareTempRoot(config.tempRoot);
      const dataset = await loadOneDataset(config, args.dataset);
      // The report dirs (and run dirs) of previews that were SIGKILLed: their owners are gone.
      await sweepTempRoot(config.tempRoot);
      const reportDir = await createRunDir(config.tempRoot, "preview");
      try {
        const reportFile = path.join(reportDir, "report.json");
        const env = { EDGESNAP_EDGE_URL: edgeUrl, ...(token ? { EDGESNAP_TOKEN: token } : {}), [RUN_ENV.previewReport]: reportFile, [RUN_ENV.previewRows]: String(sampleRows) };
        const shot = await superviseOneShot({ dataset, config, env, io: cli.io, format });
        // A report counts only from a child that finished its preview (not one killed after writing it).
        const report = shot.run.outcome === "ok" || shot.run.outcome === "rejected" ? await readReport(reportFile) : null;
        if (args.json) cli.io.stdout(`${JSON.stringify(jsonOutput(dataset.name, report, shot.run))}\n`);
        else {
          if (report) cli.io.stdout(formatPreview(report));
          // A build that failed before it had a report says why, in a run's line.
          else cli.io.stdout(`${formatFinishedRun(dataset.name, { ...shot.run, version: null })}\n`);
          if (report) cli.io.stdout(`(built in ${formatDuration(shot.run.durationMs)}, peak ${formatBytes(shot.run.peakRssBytes)})\n`);
        }
        cli.exitCode = oneShotExitCode(shot);
      } finally {
        await rm(reportDir, { recursive: true, force: true });
      }
    },
  });

export default previewCommand;
