/**
 * One gzip stream (RFC 1952, a single member) stitched from pieces compressed one page at a time:
 * each piece is raw DEFLATE (RFC 1951) of one page's bytes, ended by a full flush instead of a final
 * block, so pieces compressed on their own can follow each other in one DEFLATE stream. The stream
 * is a 10-byte header, the pieces in order, an empty final block, and a trailer with the CRC-32 of
 * all the bytes (combined from the pieces' own CRCs, zlib's crc32_combine) and their length.
 * Pages are shared between versions, and so are their pieces: a version's compressed NDJSON costs
 * the pages that changed. Pure; both sides use it (the publisher to know the stream's length, the
 * Worker to send it).
 */

/** The gzip header: magic, DEFLATE, no flags, no time, no extra flags, unknown OS. */
export const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/** A final, empty, fixed-Huffman block: BFINAL=1, BTYPE=01, end-of-block (RFC 1951 §3.2.6). */
export const FINAL_BLOCK = new Uint8Array([0x03, 0x00]);

/** One compressed piece: its bytes' length, and the CRC-32 and length of the bytes it holds. */
export interface GzipPiece {
  bytes: number;
  crc32: number;
  length: number;
}

/** The length of the stitched stream. Pure. */
export function gzipStreamBytes(pieces: readonly Pick<GzipPiece, "bytes">[]): number {
  return GZIP_HEADER.length + pieces.reduce((sum, piece) => sum + piece.bytes, 0) + FINAL_BLOCK.length + 8;
}

const GF2_DIM = 32;

function gf2Times(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0; vector !== 0; i++, vector >>>= 1) if (vector & 1) sum ^= matrix[i]!;
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < GF2_DIM; n++) square[n] = gf2Times(matrix, matrix[n]!);
}

/** CRC-32 of A followed by B, from CRC(A), CRC(B) and B's length (zlib's crc32_combine). Pure. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(GF2_DIM);
  const odd = new Uint32Array(GF2_DIM);
  odd[0] = 0xedb88320; // the CRC-32 polynomial, reflected
  let row = 1;
  for (let n = 1; n < GF2_DIM; n++) {
    odd[n] = row;
    row <<= 1;
  }
  gf2Square(even, odd); // two zero bits
  gf2Square(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let length = lengthB;
  do {
    gf2Square(even, odd);
    if (length & 1) crc = gf2Times(even, crc);
    length = Math.floor(length / 2);
    if (length === 0) break;
    gf2Square(odd, even);
    if (length & 1) crc = gf2Times(odd, crc);
    length = Math.floor(length / 2);
  } while (length !== 0);
  return (crc ^ crcB) >>> 0;
}

/** The gzip trailer of the pieces: their combined CRC-32 and their total length mod 2^32, little-endian. Pure. */
export function gzipTrailer(pieces: readonly Pick<GzipPiece, "crc32" | "length">[]): Uint8Array {
  let crc = 0;
  let length = 0;
  for (const piece of pieces) {
    crc = crc32Combine(crc, piece.crc32, piece.length);
    length = (length + piece.length) % 0x1_0000_0000;
  }
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc, true);
  view.setUint32(4, length, true);
  return trailer;
}
