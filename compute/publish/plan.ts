/**
 * Planning a version from its rows on disk, in one streaming pass and bounded memory: polars has
 * written the rows as NDJSON (one JSON record per line, the record's bytes exactly as they go in
 * the body), and this pass cuts them into pages, hashes the full body and every page, and, for a
 * keyed snapshot, spills each record into its item shard's file. Nothing is uploaded yet: the
 * version's hash decides first whether there is anything to publish.
 *
 * The body is `[` + the lines joined by `,` + `]`, so it is the file with every newline turned into
 * a comma (the last into `]`): hashing and pages work on converted chunks of the file, never on
 * single rows, which keeps a 3-million-row pass to about a second.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { appendFile, mkdir, open, stat } from "node:fs/promises";
import path from "node:path";
import { PagePlanner } from "../../contract/pages.ts";
import type { Page } from "../../contract/manifest.ts";
import { itemKeyProblem } from "../../contract/names.ts";
import { shardCountFor, shardOf } from "../../contract/shards.ts";
import { EdgesnapError } from "../errors.ts";

const NEWLINE = 0x0a;
const COMMA = 0x2c;
/** Bytes read from the row file at a time. */
const CHUNK_BYTES = 1024 * 1024;
/** A shard's buffered lines go to its file once they pass this. */
const SHARD_FLUSH_BYTES = 32 * 1024;

/** A page, with where its rows are in the row file. */
export interface PlannedPage extends Page {
  /** Byte offset of the page's first row in the row file. */
  start: number;
  /** Byte offset just past its last row (its newline excluded). */
  end: number;
}

export interface VersionPlan {
  /** The NDJSON file of the rows. */
  rowsFile: string;
  /** sha256 of the full body. */
  hash: string;
  /** Size of the full body. */
  bytes: number;
  rows: number;
  pages: PlannedPage[];
  /** Item shard files in shard order, or none for an unkeyed snapshot. */
  shardFiles: string[];
}

export interface PlanOptions {
  /** NDJSON of the rows. */
  rowsFile: string;
  /** For a keyed snapshot: NDJSON of the key column alone (`{"<key>":value}` per line, same order). */
  keysFile?: string;
  /** The key column's name, with keysFile. */
  keyName?: string;
  /** Where shard files go (created). */
  shardDir?: string;
  /** Page target. Default PAGE_TARGET_BYTES. */
  pageBytes?: number;
  /** Bytes read at a time (tests make it small to cross chunk boundaries). Default 1 MiB. */
  chunkBytes?: number;
}

/** Yields the file in chunks that end at a line end (the last may lack one), with their offsets. */
async function* lineChunks(file: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<{ chunk: Buffer; offset: number }> {
  let carry: Buffer | undefined;
  let offset = 0;
  for await (const data of createReadStream(file, { highWaterMark: chunkBytes }) as AsyncIterable<Buffer>) {
    const joined: Buffer = carry ? Buffer.concat([carry, data]) : data;
    const cut = joined.lastIndexOf(NEWLINE) + 1;
    if (cut === 0) {
      carry = joined;
      continue;
    }
    yield { chunk: joined.subarray(0, cut), offset };
    offset += cut;
    carry = cut < joined.length ? joined.subarray(cut) : undefined;
  }
  if (carry) yield { chunk: carry, offset };
}

/** Reads the key of each row, in order, from the key column's NDJSON. */
class KeyReader {
  readonly #chunks: AsyncGenerator<{ chunk: Buffer; offset: number }>;
  readonly #prefix: Buffer;
  #lines: Buffer[] = [];
  #next = 0;

  constructor(file: string, keyName: string, chunkBytes?: number) {
    this.#chunks = lineChunks(file, chunkBytes);
    this.#prefix = Buffer.from(`{${JSON.stringify(keyName)}:`);
  }

  /** The next `count` keys as item-key strings (String() of the JSON value, as a client sees it). */
  async take(count: number): Promise<string[]> {
    const keys: string[] = [];
    while (keys.length < count) {
      if (this.#next >= this.#lines.length) {
        const { value, done } = await this.#chunks.next();
        if (done) throw new EdgesnapError("internal", "the key column has fewer rows than the body");
        this.#lines = splitLines(value.chunk);
        this.#next = 0;
      }
      keys.push(this.#keyOf(this.#lines[this.#next++]!));
    }
    return keys;
  }

  #keyOf(line: Buffer): string {
    if (!line.subarray(0, this.#prefix.length).equals(this.#prefix) || line[line.length - 1] !== 0x7d) {
      throw new EdgesnapError("internal", `unexpected key line ${JSON.stringify(line.subarray(0, 80).toString())}`);
    }
    const token = line.subarray(this.#prefix.length, line.length - 1).toString("utf8");
    // Fast paths for the common keys; JSON.parse for the rest (escapes, floats, booleans).
    if (token.charCodeAt(0) === 0x22 && !token.includes("\\")) return token.slice(1, -1);
    if (/^-?[1-9]\d{0,14}$|^0$/.test(token)) return token;
    const value: unknown = JSON.parse(token);
    if (value === null) throw new EdgesnapError("gate-rejected", "gate: the key column holds a null (or NaN) value");
    if (typeof value === "object") throw new EdgesnapError("gate-rejected", "gate: the key column holds lists or structs; keys must be strings or numbers");
    return String(value);
  }

  async close(): Promise<void> {
    await this.#chunks.return(undefined);
  }
}

/** The lines of a chunk that ends at a line end, without their newlines. */
function splitLines(chunk: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
    lines.push(chunk.subarray(start, nl));
    start = nl + 1;
  }
  if (start < chunk.length) lines.push(chunk.subarray(start));
  return lines;
}

/**
 * Item shards being written: each shard's lines are gathered as text (a record's UTF-8 bytes round-
 * trip exactly through a string) and appended to its file once they pass SHARD_FLUSH_BYTES, so
 * memory stays near shards x SHARD_FLUSH_BYTES however many rows there are.
 */
class ShardSpill {
  readonly files: string[];
  readonly #texts: string[];

  constructor(dir: string, count: number) {
    this.files = Array.from({ length: count }, (_, shard) => path.join(dir, `${shard}.tsv`));
    this.#texts = new Array<string>(count).fill("");
  }

  /** Adds a record; returns a flush to await when the shard's buffer is full, else undefined. */
  add(shard: number, key: string, record: Buffer): Promise<void> | undefined {
    const text = `${this.#texts[shard]!}${key}\t${record.toString("utf8")}\n`;
    this.#texts[shard] = text;
    return text.length >= SHARD_FLUSH_BYTES ? this.#flush(shard) : undefined;
  }

  async #flush(shard: number): Promise<void> {
    const text = this.#texts[shard]!;
    this.#texts[shard] = "";
    await appendFile(this.files[shard]!, text);
  }

  async finish(): Promise<void> {
    // Every shard gets a file, an empty one included: the edge reads shard i for any key of shard i.
    for (let shard = 0; shard < this.files.length; shard++) await this.#flush(shard);
  }
}

/**
 * Plans a version: pages, hashes, row count and (keyed) shard files.
 * @throws {EdgesnapError} "gate-rejected" for a key that is not a valid item key
 */
export async function planVersion(options: PlanOptions): Promise<VersionPlan> {
  const fileBytes = (await stat(options.rowsFile)).size;
  const body = createHash("sha256").update("[");
  const planner = new PagePlanner(options.pageBytes);
  const pages: PlannedPage[] = [];
  let page: { hash: Hash; start: number } = { hash: createHash("sha256").update("["), start: 0 };
  let rows = 0;
  let lastLineEnd = 0;

  const keyed = options.keysFile !== undefined && options.keyName !== undefined;
  const keys = keyed ? new KeyReader(options.keysFile!, options.keyName!, options.chunkBytes) : undefined;
  // The shard count must be known before the first record is placed: estimate the body size.
  const shards = keyed ? shardCountFor(fileBytes) : 0;
  let spill: ShardSpill | undefined;
  if (keyed) {
    await mkdir(options.shardDir!, { recursive: true });
    spill = new ShardSpill(options.shardDir!, shards);
  }

  const closePage = (end: number, span: { firstRow: number; rows: number; bytes: number }) => {
    pages.push({ first_row: span.firstRow, rows: span.rows, bytes: span.bytes, sha256: page.hash.update("]").digest("hex"), start: page.start, end });
  };

  // Whether the previous chunk ended with a newline that separates two rows of the current page:
  // its comma goes into the page's hash only once the next row is known to stay on the page.
  let pendingComma = false;
  try {
    for await (const { chunk, offset } of lineChunks(options.rowsFile, options.chunkBytes)) {
      const lines = splitLines(chunk);
      const chunkKeys = keys ? await keys.take(lines.length) : undefined;
      // The chunk as body bytes: every newline a comma. Pages and the body hash take slices of it.
      const converted = Buffer.from(chunk);
      let pieceStart = 0;
      let lineStart = 0;
      for (const [index, line] of lines.entries()) {
        if (lineStart + line.length < converted.length) converted[lineStart + line.length] = COMMA;
        const closed = planner.add(line.length);
        if (closed) {
          // This row starts a new page; the previous one ends before the comma in front of it.
          if (lineStart > 0) page.hash.update(converted.subarray(pieceStart, lineStart - 1));
          closePage(offset + lineStart - 1, closed);
          page = { hash: createHash("sha256").update("["), start: offset + lineStart };
          pieceStart = lineStart;
        } else if (lineStart === 0 && pendingComma) {
          page.hash.update(",");
        }
        pendingComma = false;
        if (chunkKeys) {
          const key = chunkKeys[index]!;
          const problem = itemKeyProblem(key);
          if (problem !== null) throw new EdgesnapError("gate-rejected", `gate: item key ${JSON.stringify(key.slice(0, 80))} ${problem}`);
          const flush = spill!.add(shardOf(key, shards), key, line);
          if (flush) await flush;
        }
        rows += 1;
        lineStart += line.length + 1;
      }
      const endsWithNewline = chunk[chunk.length - 1] === NEWLINE;
      const lastChunk = offset + chunk.length >= fileBytes;
      const contentEnd = endsWithNewline ? chunk.length - 1 : chunk.length;
      // The file's last newline is the body's closing bracket; any other is a comma between rows.
      body.update(converted.subarray(0, lastChunk ? contentEnd : chunk.length));
      page.hash.update(converted.subarray(pieceStart, contentEnd));
      pendingComma = endsWithNewline && !lastChunk;
      lastLineEnd = offset + contentEnd;
    }
    closePage(rows === 0 ? 0 : lastLineEnd, planner.finish());
    await spill?.finish();
  } finally {
    await keys?.close();
  }
  return {
    rowsFile: options.rowsFile,
    hash: body.update("]").digest("hex"),
    bytes: rows === 0 ? 2 : lastLineEnd + 2,
    rows,
    pages,
    shardFiles: spill?.files ?? [],
  };
}

/** Reads one planned page from the row file as the JSON array it is stored as. */
export async function readPage(rowsFile: string, page: PlannedPage): Promise<Buffer> {
  const bytes = Buffer.alloc(page.bytes);
  bytes[0] = 0x5b; // [
  bytes[page.bytes - 1] = 0x5d; // ]
  if (page.end > page.start) {
    const handle = await open(rowsFile, "r");
    try {
      await handle.read(bytes, 1, page.end - page.start, page.start);
    } finally {
      await handle.close();
    }
    for (let at = bytes.indexOf(NEWLINE, 1); at >= 0 && at < page.bytes - 1; at = bytes.indexOf(NEWLINE, at + 1)) bytes[at] = COMMA;
  }
  return bytes;
}
