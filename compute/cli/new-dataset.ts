/**
 * The pure half of `edgesnap new`: the commented dataset module it writes, and the registry module
 * with one more entry. The registry is edited as text at the place the TypeScript parser finds its
 * default-exported array (`export default [...]`, or `export default datasets` of a
 * `const datasets = [...]`), so its comments and layout stay as they were.
 */
import path from "node:path";
import type ts from "typescript";
import { DATASET_NAME_PATTERN, isDatasetName } from "../../contract/names.ts";
import { EdgesnapError } from "../errors.ts";

/** Where the template's imports point: the repository's compute/ folder. */
const COMPUTE_DIR = path.resolve(import.meta.dirname, "..");

/**
 * Refuses a name that cannot be a dataset's, saying the rule (contract/names.ts).
 * @throws {EdgesnapError} "config" (exit 2)
 */
export function assertNewDatasetName(name: string): void {
  if (isDatasetName(name)) return;
  throw new EdgesnapError(
    "config",
    `invalid dataset name ${JSON.stringify(name)}: use 1 to 64 lowercase letters, digits and "-", starting with a letter or digit (${DATASET_NAME_PATTERN.source}); it is used in URLs and storage keys`,
  );
}

/** An import specifier from `fromDir` to a file of compute/, always relative ("./" or "../"). */
function importPath(fromDir: string, computeFile: string): string {
  const relative = path.relative(fromDir, path.join(COMPUTE_DIR, computeFile)).split(path.sep).join("/");
  return relative.startsWith(".") ? relative : `./${relative}`;
}

/**
 * The module `edgesnap new <name>` writes into `dir`: a dataset that builds and publishes as it is
 * (US airports per state, from the bundled example data), commented for the one who changes it.
 */
export function datasetTemplate(name: string, dir: string): string {
  return `/**
 * ${name}: made by \`edgesnap new\`. It builds and publishes as it is (US airports per state, from
 * the bundled example data); change \`build\` to compute what you need, then look before you publish:
 *   npm run edgesnap -- preview ${name}   # the columns, the first rows, the gates, the pages; publishes nothing
 *   npm run edgesnap -- run ${name}       # one build and publish now
 * The whole guide is the README's "Defining a dataset".
 */
import { defineDataset } from "${importPath(dir, "dataset/define.ts")}";
import { AIRPORTS_CSV, vegaDataPath } from "${importPath(dir, "examples/vega.ts")}";

export default defineDataset({
  // In URLs (/v1/datasets/${name}) and storage keys; keep it the file's name, so a module that
  // fails to load is reported under it.
  name: "${name}",
  description: "US airports per state: an example made by edgesnap new, to replace.",
  // When it runs: cron (croner syntax; 6 fields for seconds), in EDGESNAP_TIMEZONE (UTC by default).
  schedule: "*/15 * * * *",
  // Optional: a column with one unique value per row makes each row an item,
  // /v1/datasets/${name}/items/<state>. Leave it out for a dataset read only whole or by page.
  key: "state",
  // Gates refuse a suspicious snapshot before it is published; the previous version stays served.
  gates: { minRows: 10, maxRowDropRatio: 0.5 },
  // The run is killed past these (the defaults): size memory from the README's "Memory and limits".
  // limits: { timeoutMs: 90_000, memoryBytes: 1024 ** 3 },
  // Formats besides the JSON (default: all three; [] for JSON only).
  // formats: ["csv", "ndjson", "parquet"],
  async build({ pl, sources }) {
    // \`pl\` is nodejs-polars, handed in by the run: dataset modules never import it at run time,
    // so the scheduler can read this file without loading polars.
    const airports = await sources.scanCsv(vegaDataPath(AIRPORTS_CSV));
    // A LazyFrame runs on polars' streaming engine, and the run never holds it whole.
    return airports
      .filter(pl.col("state").isNotNull())
      .groupBy("state")
      .agg(pl.len().alias("airports"), pl.col("city").nUnique().alias("cities"))
      // A total order: "unchanged" is decided by the content's hash, and group-by order is not fixed.
      .sort("state");
  },
});
`;
}

/** The array literal the registry module default-exports, found with the TypeScript parser. */
function registryArray(typescript: typeof ts, source: ts.SourceFile): ts.ArrayLiteralExpression | null {
  const initializers = new Map<string, ts.Expression>();
  let exported: ts.Expression | null = null;
  for (const statement of source.statements) {
    if (typescript.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (typescript.isIdentifier(declaration.name) && declaration.initializer) initializers.set(declaration.name.text, declaration.initializer);
      }
    } else if (typescript.isExportAssignment(statement) && !statement.isExportEquals) exported = statement.expression;
  }
  const unwrap = (expression: ts.Expression | null | undefined): ts.Expression | null => {
    let current = expression ?? null;
    while (current && (typescript.isAsExpression(current) || typescript.isSatisfiesExpression(current) || typescript.isParenthesizedExpression(current))) current = current.expression;
    return current;
  };
  let target = unwrap(exported);
  if (target && typescript.isIdentifier(target)) target = unwrap(initializers.get(target.text));
  return target && typescript.isArrayLiteralExpression(target) ? target : null;
}

/**
 * The registry's text with `entry` (a module path string) added as the last element of its
 * default-exported array, in the array's own layout. Pure, given the TypeScript module.
 * @throws {EdgesnapError} "config" when the registry has no such array (it lists nothing edgesnap
 *   can extend: add the entry by hand)
 */
export function addRegistryEntry(typescript: typeof ts, text: string, entry: string, registryName: string): string {
  const source = typescript.createSourceFile(registryName, text, typescript.ScriptTarget.Latest, true);
  const array = registryArray(typescript, source);
  if (!array) {
    throw new EdgesnapError("config", `${registryName} default-exports no array literal edgesnap can add to; list ${JSON.stringify(entry)} in it by hand`);
  }
  const literal = JSON.stringify(entry);
  const elements = array.elements;
  if (elements.length === 0) return `${text.slice(0, array.getStart(source) + 1)}${literal}${text.slice(array.getEnd() - 1)}`;
  const last = elements[elements.length - 1]!;
  const lineOf = (position: number) => source.getLineAndCharacterOfPosition(position).line;
  const multiline = lineOf(last.getStart(source)) !== lineOf(array.getStart(source));
  if (!multiline) return `${text.slice(0, last.getEnd())}, ${literal}${text.slice(last.getEnd())}`;
  // One element a line: the new one goes on a line of its own after the last one's line (and
  // after any comment that ends it), with the same indentation and comma style.
  const lineStart = text.lastIndexOf("\n", last.getStart(source)) + 1;
  const indent = /^[ \t]*/.exec(text.slice(lineStart))![0];
  const afterLast = elements.hasTrailingComma ? text.indexOf(",", last.getEnd()) + 1 : last.getEnd();
  const newline = text.indexOf("\n", afterLast);
  const lineEnd = newline === -1 || newline > array.getEnd() - 1 ? array.getEnd() - 1 : newline;
  const head = elements.hasTrailingComma ? text.slice(0, lineEnd) : `${text.slice(0, last.getEnd())},${text.slice(last.getEnd(), lineEnd)}`;
  return `${head}\n${indent}${literal}${elements.hasTrailingComma ? "," : ""}${text.slice(lineEnd)}`;
}
