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
import { mkdir, open, stat } from "node:fs/promises";
import { PagePlanner } from "../../contract/pages.ts";
import type { Page } from "../../contract/manifest.ts";
import { shardCountFor } from "../../contract/shards.ts";
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
  /** Item shard files in shard order, or none for an unkeyed snapshot. */
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
  /** Page target. Default PAGE_TARGET_BYTES. */
  pageBytes?: number;
  /** Bytes read at a time (tests make it small to cross chunk boundaries). Default 1 MiB. */
  chunkBytes?: number;
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
  const keys = keyed ? new KeyReader(options.keysFile!, options.keyName!, options.chunkBytes ?? CHUNK_BYTES) : undefined;
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
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
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
        const lineEnd = starts[index + 1]! - 1;
        if (lineEnd < converted.length) converted[lineEnd] = COMMA;
        const closed = planner.add(lineEnd - lineStart);
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
          const flush = spill!.add(chunkKeys, index, chunk, lineStart, Math.min(lineEnd, chunk.length));
          if (flush) await flush;
        }
      }
      rows += lines;
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
