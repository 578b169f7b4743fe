/**
 * One gzip stream stitched from pieces compressed on their own (contract/gzip.ts): the CRC-32 of
 * the whole from the pieces' CRCs, and a stream that gunzip (strict about its trailer) accepts.
 */
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32Combine, FINAL_BLOCK, GZIP_HEADER, gzipStreamBytes, gzipTrailer } from "../../contract/gzip.ts";

const piece = (bytes: Buffer) => ({ data: zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_FULL_FLUSH }), crc32: zlib.crc32(bytes), length: bytes.length });

describe("stitched gzip", () => {
  it("combines CRC-32s as one pass over the joined bytes would", () => {
    const pairs: [string, string][] = [["", "x"], ["hello ", "world"], ["a".repeat(100_000), "é✈".repeat(3_333)], ["x", ""]];
    for (const [a, b] of pairs) {
      const [left, right] = [Buffer.from(a), Buffer.from(b)];
      expect(crc32Combine(zlib.crc32(left), zlib.crc32(right), right.length)).toBe(zlib.crc32(Buffer.concat([left, right])));
    }
  });

  it("makes one gzip member of independently compressed pages, which decompresses to the pages joined", () => {
    const pages = [Buffer.from('{"a":1}\n'.repeat(50_000)), Buffer.from('{"b":"é"}\n'.repeat(7)), Buffer.alloc(0), Buffer.from(String(Math.random()).repeat(1000))];
    const pieces = pages.map(piece);
    const stream = Buffer.concat([GZIP_HEADER, ...pieces.map((p) => p.data), FINAL_BLOCK, gzipTrailer(pieces)]);
    expect(stream.length).toBe(gzipStreamBytes(pieces.map((p) => ({ bytes: p.data.length }))));
    expect(zlib.gunzipSync(stream).equals(Buffer.concat(pages))).toBe(true);
    // A wrong trailer is refused: the CRC is checked.
    const broken = Buffer.from(stream);
    broken[broken.length - 8] = broken[broken.length - 8]! ^ 1;
    expect(() => zlib.gunzipSync(broken)).toThrow();
  });
});
