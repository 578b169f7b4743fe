/**
 * The keys a keyed version added, changed and removed against the version that was current when it
 * was built, worked out once at publish time so `GET /v1/datasets/:name/changes` never has to. Only
 * the pages that differ are compared: a key in a page both versions hold is unchanged (keys are
 * unique, so it can be nowhere else), so the previous version's pages that are gone are read back
 * from storage and the new version's new pages from the run's row file: O(what changed).
 */
import { open } from "node:fs/promises";
import { MAX_LISTED_KEY_CHANGES, type KeyChanges } from "../../contract/changes.ts";
import { pageKeyOf, type KeyChangeCounts, type VersionIndex } from "../../contract/version-index.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { EdgesnapError } from "../errors.ts";
import { entriesOfPages } from "./items.ts";
import type { VersionPlan } from "./plan.ts";

/** Above this many bytes of differing pages, keys are not compared (clients are told to fetch the pages). */
export const KEY_DIFF_LIMIT_BYTES = 64 * 1024 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The byte ranges of the records of a page object (a JSON array of objects): commas at depth 1
 * outside strings separate them. Pure.
 */
export function recordRanges(page: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [];
  let depth = 0;
  let inString = false;
  let start = 1;
  for (let i = 0; i < page.length; i++) {
    const byte = page[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === 0x5b || byte === 0x7b) depth++;
    else if (byte === 0x5d || byte === 0x7d) {
      depth--;
      if (depth === 0 && i > start) ranges.push([start, i]);
    } else if (byte === 0x2c && depth === 1) {
      ranges.push([start, i]);
      start = i + 1;
    }
  }
  return ranges;
}

/** The item key of a record, as the item index holds it: String() of its key column's value. */
function keyOf(record: string, keyName: string): string {
  return String((JSON.parse(record) as Record<string, unknown>)[keyName]);
}

export interface PlannedKeyChanges {
  counts: KeyChangeCounts;
  /** The listed changes to store (`keyChangesKey`), or null when there are too many to list. */
  changes: KeyChanges | null;
}

/**
 * Compares a keyed plan with the previous version.
 * @returns null when the pages that differ exceed KEY_DIFF_LIMIT_BYTES
 * @throws {EdgesnapError} "storage" when a page of the previous version cannot be read
 */
export async function planKeyChanges(store: ObjectStore, plan: VersionPlan, previous: VersionIndex, version: string, keyName: string): Promise<PlannedKeyChanges | null> {
  const held = new Set(previous.pages.map((page) => page.sha256));
  const kept = new Set(plan.pages.map((page) => page.sha256));
  const gone = previous.pages.map((page, n) => ({ page, n })).filter(({ page }) => !kept.has(page.sha256) && page.rows > 0);
  const added = new Set(plan.pages.flatMap((page, n) => (held.has(page.sha256) ? [] : [n])));
  const differing = gone.reduce((sum, { page }) => sum + page.bytes, 0) + [...added].reduce((sum, n) => sum + plan.pages[n]!.bytes, 0);
  if (differing > KEY_DIFF_LIMIT_BYTES) return null;

  const before = new Map<string, string>();
  for (const { n } of gone) {
    const key = pageKeyOf(previous, n);
    const object = await store.get(key);
    if (object === null) throw new EdgesnapError("storage", `${key} of the previous version is missing`);
    const bytes = new Uint8Array(await new Response(object.body).arrayBuffer());
    const decoder = new TextDecoder();
    for (const [start, end] of recordRanges(bytes)) {
      const record = decoder.decode(bytes.subarray(start, end));
      before.set(keyOf(record, keyName), record);
    }
  }
  const changes: KeyChanges = { since: previous.version, version, added: [], changed: [], removed: [] };
  const rows = await open(plan.rowsFile, "r");
  try {
    for await (const entry of entriesOfPages(plan, added)) {
      const buffer = Buffer.alloc(entry.length);
      await rows.read(buffer, 0, entry.length, plan.pages[entry.page]!.start + entry.offset - 1);
      const old = before.get(entry.key);
      if (old === undefined) changes.added.push(entry.key);
      else if (old !== buffer.toString("utf8")) changes.changed.push(entry.key);
      before.delete(entry.key);
    }
  } finally {
    await rows.close();
  }
  changes.removed.push(...before.keys());
  for (const list of [changes.added, changes.changed, changes.removed]) list.sort();
  const counts = { added: changes.added.length, changed: changes.changed.length, removed: changes.removed.length };
  const listed = counts.added + counts.changed + counts.removed <= MAX_LISTED_KEY_CHANGES;
  return { counts: { ...counts, listed }, changes: listed ? changes : null };
}
