/**
 * The item index of a keyed snapshot, written while the rows are planned: each row's key is read
 * from the key column's NDJSON (polars wrote it beside the rows, in the same order), hashed to its
 * shard, and `<key>\t<page>\t<offset>\t<length>\n` (where the record is in its page,
 * contract/items.ts) is appended to that shard's file. A keyed snapshot has millions of rows, so the
 * common keys (ASCII strings without escapes, integers) are handled as bytes from start to end: no
 * string, no object per row, which keeps the garbage collector out of the way.
 */
import { appendFile } from "node:fs/promises";
import path from "node:path";
import { itemKeyProblem, MAX_ITEM_KEY_BYTES } from "../../contract/names.ts";
import { fnv1a32Bytes, shardOf } from "../../contract/shards.ts";
import { EdgesnapError } from "../errors.ts";

const NEWLINE = 0x0a;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Each shard's buffer: its lines go to the shard's file whenever it is full. */
const SHARD_FLUSH_BYTES = 64 * 1024;
/** All shards' buffers together: with many shards each gets less (4,096 shards: 8 KiB each). */
const SHARD_BUFFERS_BYTES = 32 * 1024 * 1024;

/** Yields a file in chunks that end at a line end (the last may lack one), with their offsets. */
export async function* lineChunks(file: string, chunkBytes: number): AsyncGenerator<{ chunk: Buffer; offset: number }> {
  const { createReadStream } = await import("node:fs");
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

/** The start of every line of a chunk that ends at a line end, and one more entry: the chunk's end. */
export function lineStarts(chunk: Buffer): number[] {
  const starts = [0];
  for (let nl = chunk.indexOf(NEWLINE); nl >= 0 && nl + 1 < chunk.length; nl = chunk.indexOf(NEWLINE, nl + 1)) starts.push(nl + 1);
  starts.push(chunk[chunk.length - 1] === NEWLINE ? chunk.length : chunk.length + 1);
  return starts;
}

/**
 * A batch of keys, one per row. Row i's key is either the bytes `buffers[i][starts[i], ends[i])`
 * (a plain key: printable ASCII, as the client sends it) or, when `strings[i]` is set, that string.
 */
export interface KeyBatch {
  buffers: Buffer[];
  starts: number[];
  ends: number[];
  strings: (string | undefined)[];
}

/** Reads the key of each row, in order, from the key column's NDJSON (`{"<key>":value}` lines). */
export class KeyReader {
  readonly #chunks: AsyncGenerator<{ chunk: Buffer; offset: number }>;
  readonly #prefix: Buffer;
  #chunk: Buffer = Buffer.alloc(0);
  #starts: number[] = [0];
  #next = 0;

  constructor(file: string, keyName: string, chunkBytes: number) {
    this.#chunks = lineChunks(file, chunkBytes);
    this.#prefix = Buffer.from(`{${JSON.stringify(keyName)}:`);
  }

  /** The keys of the next `count` rows. */
  async take(count: number): Promise<KeyBatch> {
    const batch: KeyBatch = { buffers: [], starts: [], ends: [], strings: [] };
    while (batch.buffers.length < count) {
      if (this.#next >= this.#starts.length - 1) {
        const { value, done } = await this.#chunks.next();
        if (done) throw new EdgesnapError("internal", "the key column has fewer rows than the body");
        this.#chunk = value.chunk;
        this.#starts = lineStarts(value.chunk);
        this.#next = 0;
      }
      const lineStart = this.#starts[this.#next]!;
      const lineEnd = this.#starts[this.#next + 1]! - 1;
      this.#next += 1;
      this.#readKey(batch, lineStart, lineEnd);
    }
    return batch;
  }

  #readKey(batch: KeyBatch, lineStart: number, lineEnd: number): void {
    const line = this.#chunk;
    const prefix = this.#prefix;
    if (lineEnd - lineStart < prefix.length + 2 || !startsWith(line, lineStart, prefix) || line[lineEnd - 1] !== 0x7d) {
      throw new EdgesnapError("internal", `unexpected key line ${JSON.stringify(line.toString("utf8", lineStart, Math.min(lineEnd, lineStart + 80)))}`);
    }
    let start = lineStart + prefix.length;
    let end = lineEnd - 1;
    if (line[start] === QUOTE && line[end - 1] === QUOTE) {
      start += 1;
      end -= 1;
    } else if (!isPlainInteger(line, start, end)) {
      end = -1;
    }
    batch.buffers.push(line);
    if (end >= 0 && isPlainKey(line, start, end)) {
      batch.starts.push(start);
      batch.ends.push(end);
      batch.strings.push(undefined);
      return;
    }
    batch.starts.push(0);
    batch.ends.push(0);
    batch.strings.push(keyString(line.toString("utf8", lineStart + prefix.length, lineEnd - 1)));
  }

  async close(): Promise<void> {
    await this.#chunks.return(undefined);
  }
}

/** Whether `bytes` has `prefix` at `start` (a loop: the prefix is a few bytes, a native call per row costs more). */
function startsWith(bytes: Buffer, start: number, prefix: Buffer): boolean {
  for (let i = 0; i < prefix.length; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}

/** An integer token as JSON writes it (no sign but "-", no leading zero), short enough to be exact. */
function isPlainInteger(bytes: Buffer, start: number, end: number): boolean {
  let i = start;
  if (bytes[i] === 0x2d) i++;
  if (i >= end || end - i > 15 || (bytes[i] === 0x30 && end - i > 1)) return false;
  for (; i < end; i++) if (bytes[i]! < 0x30 || bytes[i]! > 0x39) return false;
  return true;
}

/** A key that needs no decoding and passes the item-key rule: printable ASCII, no escape, not a dot-segment. */
function isPlainKey(bytes: Buffer, start: number, end: number): boolean {
  const length = end - start;
  if (length === 0 || length > MAX_ITEM_KEY_BYTES) return false;
  if (bytes[start] === 0x2e && (length === 1 || (length === 2 && bytes[start + 1] === 0x2e))) return false;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte < 0x20 || byte > 0x7e || byte === BACKSLASH) return false;
  }
  return true;
}

/** The item key of any other JSON value: String() of it, as a client sees it. */
function keyString(token: string): string {
  const value: unknown = JSON.parse(token);
  if (value === null) throw new EdgesnapError("gate-rejected", "gate: the key column holds a null (or NaN) value");
  if (typeof value === "object") throw new EdgesnapError("gate-rejected", "gate: the key column holds lists or structs; keys must be strings or numbers");
  const key = String(value);
  const problem = itemKeyProblem(key);
  if (problem !== null) throw new EdgesnapError("gate-rejected", `gate: item key ${JSON.stringify(key.slice(0, 80))} ${problem}`);
  return key;
}

/** Shard writes in flight at once: the pass goes on while the disk catches up. */
const WRITES_IN_FLIGHT = 32;

/** Writes `value` as decimal ASCII at `at`; @returns the offset after it. */
function writeDecimal(buffer: Buffer, at: number, value: number): number {
  if (value === 0) {
    buffer[at] = 0x30;
    return at + 1;
  }
  let digits = 0;
  for (let rest = value; rest > 0; rest = Math.floor(rest / 10)) digits++;
  for (let i = digits - 1, rest = value; i >= 0; i--, rest = Math.floor(rest / 10)) buffer[at + i] = 0x30 + (rest % 10);
  return at + digits;
}

/** Longest text of the three numbers of an entry and their separators: 3 tabs, a newline, 3 × 16 digits. */
const ENTRY_NUMBERS_BYTES = 4 + 3 * 16;

/**
 * Item-index shards being written: each shard's lines are copied into a fixed buffer of its own and
 * appended to its file when the buffer is full, so memory stays under SHARD_BUFFERS_BYTES plus the
 * writes in flight. Writes to one shard stay in order; the pass waits only when
 * WRITES_IN_FLIGHT are pending.
 */
export class ShardSpill {
  readonly files: string[];
  readonly count: number;
  /**
   * Shards holding a key that was decoded from JSON (not a plain string or integer): the only keys
   * whose uniqueness the key column's distinct count does not already prove, checked before upload.
   */
  readonly decodedKeyShards = new Set<number>();
  readonly #buffers: Buffer[];
  readonly #filled: number[];
  /** The last write of each shard, which its next write follows. */
  readonly #tails: (Promise<void> | undefined)[];
  readonly #inFlight = new Set<Promise<void>>();

  constructor(dir: string, count: number) {
    this.count = count;
    this.files = Array.from({ length: count }, (_, shard) => path.join(dir, `${shard}.tsv`));
    const bufferBytes = Math.min(SHARD_FLUSH_BYTES, Math.floor(SHARD_BUFFERS_BYTES / count));
    this.#buffers = Array.from({ length: count }, () => Buffer.allocUnsafe(bufferBytes));
    this.#filled = new Array<number>(count).fill(0);
    this.#tails = new Array<Promise<void> | undefined>(count).fill(undefined);
  }

  /**
   * Adds the entry of key i of `keys`: its record is `length` bytes at `offset` of page `page`.
   * @returns a promise to await when too many writes are in flight
   */
  add(keys: KeyBatch, i: number, page: number, offset: number, length: number): Promise<void> | undefined {
    const string = keys.strings[i];
    const keyBuffer = string === undefined ? keys.buffers[i]! : Buffer.from(string);
    const keyStart = string === undefined ? keys.starts[i]! : 0;
    const keyEnd = string === undefined ? keys.ends[i]! : keyBuffer.length;
    const shard = string === undefined ? fnv1a32Bytes(keyBuffer, keyStart, keyEnd) % this.count : shardOf(string, this.count);
    if (string !== undefined) this.decodedKeyShards.add(shard);
    const size = keyEnd - keyStart + ENTRY_NUMBERS_BYTES;
    const buffer = this.#buffers[shard]!;
    const backlog = this.#filled[shard]! + size > buffer.length ? this.#flush(shard) : undefined;
    let at = this.#filled[shard]!;
    at += keyBuffer.copy(buffer, at, keyStart, keyEnd);
    buffer[at++] = TAB;
    at = writeDecimal(buffer, at, page);
    buffer[at++] = TAB;
    at = writeDecimal(buffer, at, offset);
    buffer[at++] = TAB;
    at = writeDecimal(buffer, at, length);
    buffer[at++] = NEWLINE;
    this.#filled[shard] = at;
    return backlog;
  }

  #flush(shard: number): Promise<void> | undefined {
    if (this.#filled[shard] === 0) return undefined;
    // A copy, so the buffer can take new lines while the write is in flight.
    const bytes = Buffer.from(this.#buffers[shard]!.subarray(0, this.#filled[shard]!));
    this.#filled[shard] = 0;
    return this.#write(shard, bytes);
  }

  /** Queues an append behind the shard's previous one; resolves when the backlog allows more. */
  #write(shard: number, bytes: Buffer): Promise<void> | undefined {
    const file = this.files[shard]!;
    const write = (this.#tails[shard] ?? Promise.resolve()).then(() => appendFile(file, bytes));
    this.#tails[shard] = write;
    this.#inFlight.add(write);
    // A failed write is reported by whoever awaits it (a backlog wait, or finish()).
    void write.then(
      () => this.#inFlight.delete(write),
      () => {},
    );
    if (this.#inFlight.size < WRITES_IN_FLIGHT) return undefined;
    return Promise.race(this.#inFlight);
  }

  /** Writes what is buffered and waits for every write; every shard gets a file, an empty one included. */
  async finish(): Promise<void> {
    for (let shard = 0; shard < this.count; shard++) this.#flush(shard);
    await Promise.all(this.#tails);
    // The edge reads shard i for any key of shard i, so even a shard no key fell into is a file.
    await Promise.all(this.files.map((file, shard) => (this.#tails[shard] ? undefined : appendFile(file, ""))));
  }

  /** Waits until no write is pending, failed or not (before the shard dir is removed). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#tails);
  }
}
