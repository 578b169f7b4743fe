/**
 * Planning a version from its rows on disk, in one streaming pass and bounded memory: polars has
 * written the rows as NDJSON (one JSON record per line, the record's bytes exactly as they go in
 * the body), and this pass cuts them into content-defined pages (contract/pages.ts), hashes the
 * full body and every page, and, for a keyed snapshot, spills each row's item-index entry (key,
 * page, offset, length) into its shard's file. Nothing is uploaded yet: the version's hash decides
 * first whether there is anything to publish.
 *
 * The body is `[` + the lines joined by `,` + `]`, so it is the file with every newline turned into
 * a comma (the last into `]`): hashing and pages work on converted chunks of the file, never on
 * single rows, which keeps a 3-million-row pass to about a second. A page object is the same bytes
 * between its first and last row with `[` and `]` around them, so a row at file offset `o` in a page
 * starting at `start` is at offset `o - start + 1` of the page object.
 */
import { createHash, type Hash } from "node:crypto";
import { mkdir, open, stat } from "node:fs/promises";
import { DEFAULT_PAGE_LIMITS, isCutRow, rowHash, type PageLimits } from "../../contract/pages.ts";
import type { Page } from "../../contract/version-index.ts";
import { itemShardCountFor } from "../../contract/items.ts";
import { KeyReader, lineChunks, lineStarts, ShardSpill } from "./shards.ts";

const NEWLINE = 0x0a;
const COMMA = 0x2c;
/** Bytes read from the row file at a time. */
const CHUNK_BYTES = 1024 * 1024;

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
  /**
   * Item-index shard files in shard order (lines `key\tpage\toffset\tlength`, pages of this
   * version), or none for an unkeyed snapshot.
   */
  shardFiles: string[];
  /**
   * Shards with a key decoded from JSON (a float, an escaped string): their keys are checked for
   * duplicates before upload. Plain keys are their own bytes, unique by the key gate's distinct count.
   */
  decodedKeyShards: ReadonlySet<number>;
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
  /** Page sizes. Default DEFAULT_PAGE_LIMITS (tests make them small). */
  pageLimits?: PageLimits;
  /** Bytes read at a time (tests make it small to cross chunk boundaries). Default 1 MiB. */
  chunkBytes?: number;
}

/** The open page of the pass: its hash so far and where it starts. */
interface OpenPage {
  hash: Hash;
  /** File offset of its first row. */
  start: number;
  firstRow: number;
  rows: number;
  /** Size so far as a JSON array. */
  bytes: number;
}

function openPage(start: number, firstRow: number): OpenPage {
  return { hash: createHash("sha256").update("["), start, firstRow, rows: 0, bytes: 2 };
}

/**
 * Plans a version: pages, hashes, row count and (keyed) item-index shard files.
 * @throws {EdgesnapError} "gate-rejected" for a key that is not a valid item key
 */
export async function planVersion(options: PlanOptions): Promise<VersionPlan> {
  const limits = options.pageLimits ?? DEFAULT_PAGE_LIMITS;
  const fileBytes = (await stat(options.rowsFile)).size;
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  const body = createHash("sha256").update("[");
  const pages: PlannedPage[] = [];
  let page = openPage(0, 0);
  let rows = 0;
  let lastLineEnd = 0;

  const keyed = options.keysFile !== undefined && options.keyName !== undefined;
  const keys = keyed ? new KeyReader(options.keysFile!, options.keyName!, chunkBytes) : undefined;
  let spill: ShardSpill | undefined;
  if (keyed) {
    await mkdir(options.shardDir!, { recursive: true });
    // The shard count must be known before the first entry is placed: estimate from the key column.
    spill = new ShardSpill(options.shardDir!, itemShardCountFor((await stat(options.keysFile!)).size));
  }
  /** Closes the open page at file offset `end`, its hash fed up to there. */
  const closePage = (end: number) => {
    const { hash, start, firstRow, rows: pageRows, bytes } = page;
    pages.push({ first_row: firstRow, rows: pageRows, bytes, sha256: hash.update("]").digest("hex"), start, end });
  };

  // Whether the previous chunk ended with a newline between two rows of the open page: its comma
  // goes into the page's hash only once the next row is known to stay on the page.
  let pendingComma = false;
  try {
    for await (const { chunk, offset } of lineChunks(options.rowsFile, chunkBytes)) {
      const starts = lineStarts(chunk);
      const lines = starts.length - 1;
      const chunkKeys = keys ? await keys.take(lines) : undefined;
      // The chunk as body bytes: every newline a comma. Pages and the body hash take slices of it.
      const converted = Buffer.from(chunk);
      let pieceStart = 0;
      for (let index = 0; index < lines; index++) {
        const lineStart = starts[index]!;
        const lineEnd = Math.min(starts[index + 1]! - 1, chunk.length);
        const rowBytes = lineEnd - lineStart;
        if (lineEnd < converted.length) converted[lineEnd] = COMMA;
        if (page.rows > 0 && page.bytes + 1 + rowBytes > limits.maxBytes) {
          // This row would take the page past the maximum: the page ends before the comma in front of it.
          if (lineStart > 0) page.hash.update(converted.subarray(pieceStart, lineStart - 1));
          closePage(offset + lineStart - 1);
          page = openPage(offset + lineStart, page.firstRow + page.rows);
          pieceStart = lineStart;
        } else if (page.rows > 0 && lineStart === 0 && pendingComma) {
          page.hash.update(",");
        }
        pendingComma = false;
        if (chunkKeys) {
          const flush = spill!.add(chunkKeys, index, pages.length, offset + lineStart - page.start + 1, rowBytes);
          if (flush) await flush;
        }
        page.bytes += rowBytes + (page.rows > 0 ? 1 : 0);
        page.rows += 1;
        if (page.bytes >= limits.minBytes && isCutRow(rowHash(chunk, lineStart, lineEnd), rowBytes, limits)) {
          // A cut row ends its page; the comma after it separates this page from the next.
          page.hash.update(converted.subarray(pieceStart, lineEnd));
          closePage(offset + lineEnd);
          page = openPage(offset + lineEnd + 1, page.firstRow + page.rows);
          pieceStart = Math.min(lineEnd + 1, chunk.length);
        }
      }
      rows += lines;
      const endsWithNewline = chunk[chunk.length - 1] === NEWLINE;
      const lastChunk = offset + chunk.length >= fileBytes;
      const contentEnd = endsWithNewline ? chunk.length - 1 : chunk.length;
      // The file's last newline is the body's closing bracket; any other is a comma between rows.
      body.update(converted.subarray(0, lastChunk ? contentEnd : chunk.length));
      if (pieceStart < contentEnd) page.hash.update(converted.subarray(pieceStart, contentEnd));
      pendingComma = endsWithNewline && !lastChunk && page.rows > 0;
      lastLineEnd = offset + contentEnd;
    }
    // The last page, unless its last row was a cut row; an empty version has one page `[]`.
    if (page.rows > 0 || pages.length === 0) closePage(rows === 0 ? 0 : lastLineEnd);
    await spill?.finish();
  } finally {
    await keys?.close();
    await spill?.settle();
  }
  return {
    rowsFile: options.rowsFile,
    hash: body.update("]").digest("hex"),
    bytes: rows === 0 ? 2 : lastLineEnd + 2,
    rows,
    pages,
    shardFiles: spill?.files ?? [],
    decodedKeyShards: spill?.decodedKeyShards ?? new Set(),
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

/** Reads one planned page's rows as NDJSON (each row and its "\n"), as the paged NDJSON format stores it. */
export async function readNdjsonPage(rowsFile: string, page: PlannedPage): Promise<Buffer> {
  const bytes = Buffer.alloc(page.rows === 0 ? 0 : page.end - page.start + 1);
  if (bytes.length === 0) return bytes;
  const handle = await open(rowsFile, "r");
  try {
    await handle.read(bytes, 0, bytes.length, page.start);
  } finally {
    await handle.close();
  }
  return bytes;
}
