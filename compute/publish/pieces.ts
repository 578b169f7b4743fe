/**
 * The gzip copy of a version's NDJSON, cut like its pages (contract/gzip.ts): each non-empty page's
 * NDJSON compressed on its own into a piece that a later version holding the same page reuses, so
 * the compressed copy costs what changed too. A piece is raw DEFLATE ended by a full flush, named by
 * its own sha256, written to the run's temp dir until it is uploaded.
 */
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import { deflatePieceObjectKey } from "../../contract/keys.ts";
import { gzipStreamBytes } from "../../contract/gzip.ts";
import { ndjsonPageBytes, type IndexFormat, type VersionIndex } from "../../contract/version-index.ts";
import { GZIP_LEVEL } from "./formats.ts";
import { readNdjsonPage, type VersionPlan } from "./plan.ts";

/** One page's piece: reused from a stored version, or compressed by this run (`file`). */
export interface PlannedPiece {
  /** The JSON page whose rows it holds. */
  page: string;
  sha256: string;
  bytes: number;
  crc32: number;
  /** The NDJSON bytes it holds. */
  length: number;
  file?: string;
}

/** The pieces stored versions hold, by the JSON page they compress (only those still referenced). */
export function piecesOf(dataset: string, retained: readonly VersionIndex[], known: ReadonlySet<string>): Map<string, Omit<PlannedPiece, "page">> {
  const byPage = new Map<string, Omit<PlannedPiece, "page">>();
  for (const index of retained) {
    const pieces = index.formats.ndjson?.gzip?.pieces;
    if (pieces === undefined) continue;
    index.pages.filter((page) => page.rows > 0).forEach((page, i) => {
      const [sha256, bytes, crc32] = pieces[i]!;
      if (known.has(deflatePieceObjectKey(dataset, sha256))) byPage.set(page.sha256, { sha256, bytes, crc32, length: ndjsonPageBytes(page) });
    });
  }
  return byPage;
}

/** Plans the pieces of a version: stored ones reused, the others compressed into the plan's dir. */
export async function planPieces(plan: VersionPlan, stored: ReadonlyMap<string, Omit<PlannedPiece, "page">>): Promise<PlannedPiece[]> {
  const pieces: PlannedPiece[] = [];
  for (const [n, page] of plan.pages.entries()) {
    if (page.rows === 0) continue;
    const known = stored.get(page.sha256);
    if (known !== undefined) {
      pieces.push({ page: page.sha256, ...known });
      continue;
    }
    const ndjson = await readNdjsonPage(plan.rowsFile, page);
    const piece = zlib.deflateRawSync(ndjson, { level: GZIP_LEVEL, finishFlush: zlib.constants.Z_FULL_FLUSH });
    const sha256 = createHash("sha256").update(piece).digest("hex");
    const file = path.join(path.dirname(plan.rowsFile), `piece-${n}.deflate`);
    await writeFile(file, piece);
    pieces.push({ page: page.sha256, sha256, bytes: piece.byteLength, crc32: zlib.crc32(ndjson), length: ndjson.byteLength, file });
  }
  return pieces;
}

/** The index's record of the pieces. Pure. */
export function piecesFormat(pieces: readonly PlannedPiece[]): NonNullable<IndexFormat["gzip"]> {
  return { bytes: gzipStreamBytes(pieces), pieces: pieces.map((piece) => [piece.sha256, piece.bytes, piece.crc32]) };
}
