/**
 * A parser for the small subset of YAML the deploy/ manifests are written in, so the tests can
 * check them structurally without a YAML dependency: `---`-separated documents, block mappings,
 * block sequences (`- value`, `- key: value`), `#` comments, plain and double-quoted scalars
 * (numbers, true/false/null), and JSON flow sequences (`["a", "b"]`). Anything else (anchors, block
 * scalars, flow mappings, single quotes) throws, which keeps the manifests inside the subset.
 */

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

/** Parses every document of a multi-document YAML text. */
export function parseYamlDocuments(source: string): YamlValue[] {
  const documents: Line[][] = [[]];
  source.split("\n").forEach((raw, index) => {
    const text = stripComment(raw).trimEnd();
    if (text.trim() === "") return;
    if (text === "---") {
      documents.push([]);
      return;
    }
    documents.at(-1)!.push({ indent: text.length - text.trimStart().length, text: text.trim(), number: index + 1 });
  });
  return documents.filter((lines) => lines.length > 0).map((lines) => {
    const cursor = { index: 0 };
    const value = parseBlock(lines, cursor, lines[0]!.indent);
    if (cursor.index < lines.length) fail(lines[cursor.index]!, "unexpected indentation");
    return value;
  });
}

function fail(line: Line, message: string): never {
  throw new Error(`yaml line ${line.number}: ${message}: ${line.text}`);
}

/** Removes a `#` comment that is not inside double quotes. */
function stripComment(raw: string): string {
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const char = raw[i];
    if (char === '"' && raw[i - 1] !== "\\") quoted = !quoted;
    if (char === "#" && !quoted && (i === 0 || /\s/.test(raw[i - 1]!))) return raw.slice(0, i);
  }
  return raw;
}

function parseBlock(lines: Line[], cursor: { index: number }, indent: number): YamlValue {
  const first = lines[cursor.index]!;
  return first.text.startsWith("- ") || first.text === "-" ? parseSequence(lines, cursor, indent) : parseMapping(lines, cursor, indent);
}

function parseSequence(lines: Line[], cursor: { index: number }, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (cursor.index < lines.length) {
    const line = lines[cursor.index]!;
    if (line.indent < indent) break;
    if (line.indent > indent || !line.text.startsWith("-")) fail(line, "expected a sequence item");
    const rest = line.text.slice(1).trimStart();
    if (rest === "") {
      cursor.index++;
      items.push(parseBlock(lines, cursor, lines[cursor.index]!.indent));
    } else if (/^[^"[\s][^:]*:(\s|$)/.test(rest)) {
      // `- key: value` starts a mapping whose keys sit where `key` sits.
      const itemIndent = line.indent + (line.text.length - rest.length);
      lines[cursor.index] = { ...line, indent: itemIndent, text: rest };
      items.push(parseMapping(lines, cursor, itemIndent));
    } else {
      cursor.index++;
      items.push(parseScalar(rest, line));
    }
  }
  return items;
}

function parseMapping(lines: Line[], cursor: { index: number }, indent: number): { [key: string]: YamlValue } {
  const mapping: { [key: string]: YamlValue } = {};
  while (cursor.index < lines.length) {
    const line = lines[cursor.index]!;
    if (line.indent < indent) break;
    if (line.indent > indent) fail(line, "unexpected indentation");
    const match = /^([^"\s][^:]*?|"[^"]*"):(?:\s+(.*))?$/.exec(line.text);
    if (!match) fail(line, "expected `key: value`");
    const key = match[1]!.startsWith('"') ? (JSON.parse(match[1]!) as string) : match[1]!;
    if (key in mapping) fail(line, `duplicate key ${key}`);
    cursor.index++;
    if (match[2] !== undefined && match[2] !== "") {
      mapping[key] = parseScalar(match[2], line);
    } else {
      const next = lines[cursor.index];
      // A sequence may sit at its parent key's indentation (`key:\n- item`), as kubectl writes it.
      const nested = next && (next.indent > indent || (next.indent === indent && next.text.startsWith("- ")));
      mapping[key] = nested ? parseBlock(lines, cursor, next.indent) : null;
    }
  }
  return mapping;
}

function parseScalar(text: string, line: Line): YamlValue {
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text) as YamlValue[];
    } catch {
      fail(line, "flow sequences must be JSON arrays");
    }
  }
  if (text.startsWith('"')) {
    try {
      return JSON.parse(text) as string;
    } catch {
      fail(line, "malformed double-quoted string");
    }
  }
  if (/^['{&*!|>]/.test(text)) fail(line, "unsupported YAML syntax");
  if (text === "true" || text === "false") return text === "true";
  if (text === "null" || text === "~") return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}
