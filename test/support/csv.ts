/**
 * A strict RFC 4180 reader for tests: records end in CRLF, quoted fields may hold commas, quotes
 * (doubled) and line breaks, and it says which fields were quoted (an empty quoted field is an
 * empty string, an empty unquoted one a null). Anything else (a bare LF ending a record, a quote
 * inside an unquoted field, text after a closing quote) throws, so a test reading a file with it
 * also checks the file is RFC 4180.
 * https://www.rfc-editor.org/rfc/rfc4180#section-2
 */

export interface CsvField {
  text: string;
  quoted: boolean;
}

/** Parses a whole CSV text into records of fields. @throws on anything that is not RFC 4180 */
export function parseCsv(text: string): CsvField[][] {
  const records: CsvField[][] = [];
  let record: CsvField[] = [];
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`not RFC 4180 at offset ${at}: ${why}`);
  };
  while (at < text.length) {
    let field: CsvField;
    if (text[at] === '"') {
      let value = "";
      at += 1;
      for (;;) {
        const quote = text.indexOf('"', at);
        if (quote < 0) fail("unterminated quoted field");
        value += text.slice(at, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          at = quote + 2;
        } else {
          at = quote + 1;
          break;
        }
      }
      field = { text: value, quoted: true };
    } else {
      let end = at;
      while (end < text.length && text[end] !== "," && text[end] !== "\r" && text[end] !== "\n") {
        if (text[end] === '"') fail("a double quote inside an unquoted field");
        end += 1;
      }
      field = { text: text.slice(at, end), quoted: false };
      at = end;
    }
    record.push(field);
    if (text[at] === ",") {
      at += 1;
      if (at === text.length) fail("a comma at the end of the text");
    } else if (text.startsWith("\r\n", at)) {
      at += 2;
      records.push(record);
      record = [];
    } else if (at === text.length) {
      records.push(record);
    } else {
      fail(`unexpected ${JSON.stringify(text[at])} after a field (records end in CRLF)`);
    }
  }
  return records;
}

/**
 * Whether a CSV field holds the JSON value `value` under edgesnap's CSV rules: null is an empty
 * unquoted field, strings are the field as is, numbers and booleans their value, and arrays and
 * objects their JSON text.
 */
export function csvFieldHolds(field: CsvField, value: unknown): boolean {
  if (value === null) return field.text === "" && !field.quoted;
  if (typeof value === "string") return field.text === value && (value !== "" || field.quoted);
  if (typeof value === "number") return Object.is(Number(field.text), value);
  if (typeof value === "boolean") return field.text === String(value);
  try {
    return JSON.stringify(JSON.parse(field.text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

/**
 * What differs between a CSV text and the JSON rows it should hold: a header of `columns`, then one
 * record per row in order, each field holding the row's value (csvFieldHolds). Empty when it holds
 * them exactly. Also checks the text is RFC 4180 with CRLF line ends throughout.
 */
export function csvMismatches(text: string, columns: readonly string[], rows: readonly Record<string, unknown>[]): unknown[] {
  const wrong: unknown[] = [];
  if (!text.endsWith("\r\n")) wrong.push("the last record does not end in CRLF");
  const [header, ...records] = parseCsv(text);
  if (JSON.stringify(header?.map((field) => field.text)) !== JSON.stringify(columns)) wrong.push({ header: header?.map((field) => field.text), columns });
  if (records.length !== rows.length) wrong.push({ records: records.length, rows: rows.length });
  records.forEach((record, index) => {
    const row = rows[index] ?? {};
    if (record.length !== columns.length) wrong.push({ row: index, fields: record.length });
    columns.forEach((name, i) => {
      if (!csvFieldHolds(record[i] ?? { text: "", quoted: false }, row[name])) wrong.push({ row: index, column: name, csv: record[i], json: row[name] });
    });
  });
  return wrong;
}
