/**
 * Prints the longest functions of the given folders (default: compute, edge, contract), measured
 * in lines from the declaration to the closing brace with the TypeScript compiler's own parser, so
 * arrow functions, methods, accessors and functions nested in others all count.
 *
 *   node scripts/longest-functions.ts [--top 10] [--max 100] [folder...]
 *
 * With `--max N` it exits 1 when any function is longer than N lines, naming them.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import ts from "typescript";

interface FunctionLength {
  file: string;
  line: number;
  name: string;
  lines: number;
}

const { values, positionals } = parseArgs({
  options: { top: { type: "string", default: "10" }, max: { type: "string" } },
  allowPositionals: true,
});
const folders = positionals.length > 0 ? positionals : ["compute", "edge", "contract"];

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The name a reader would look for: the declaration's own, or the variable or property it is assigned to. */
function nameOf(node: ts.SignatureDeclaration, source: ts.SourceFile): string {
  if (node.name) return node.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  if (ts.isCallExpression(parent)) return `<callback of ${parent.expression.getText(source).slice(0, 40)}>`;
  return "<anonymous>";
}

function measure(file: string): FunctionLength[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ file, line: start + 1, name: nameOf(node, source), lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const all = folders.flatMap(sourceFiles).flatMap(measure).sort((a, b) => b.lines - a.lines);
for (const f of all.slice(0, Number(values.top))) console.log(`${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}`);
if (values.max !== undefined) {
  const over = all.filter((f) => f.lines > Number(values.max));
  if (over.length > 0) {
    console.error(`${over.length} function(s) longer than ${values.max} lines: ${over.map((f) => `${f.file}:${f.line} ${f.name}`).join(", ")}`);
    process.exitCode = 1;
  }
}
