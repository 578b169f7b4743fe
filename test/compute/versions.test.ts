/**
 * Versions that cost what changed, through the real publish path (polars, the plan, the local
 * store): a new version uploads only the pages no retained version holds, a keyed version's item
 * index is a delta over the previous base, the key changes are worked out at publish, and every
 * item is found at its record's exact bytes after an append, an edit and a deletion.
 */
import path from "node:path";
import pl from "nodejs-polars";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { itemShardObjectKey, keyChangesKey, locateItem, objectKeysOf, pageKeyOf, parseKeyChanges, scaledPageLimits, type VersionIndex } from "../../contract/index.ts";
import { readHead, readIndex } from "../../contract/protocol/manifests.ts";
import { publishVersion } from "../../compute/publish/publish.ts";
import type { ObjectStore } from "../../compute/storage/index.ts";
import { listKeys, makeTempDir, openLocalTestStore, readPublished, serializeFrame } from "./helpers.ts";

let persist: Awaited<ReturnType<typeof makeTempDir>>;
let rows: Awaited<ReturnType<typeof makeTempDir>>;
let store: ObjectStore;
beforeAll(async () => {
  persist = await makeTempDir("versions-persist");
  rows = await makeTempDir("versions-rows");
  store = await openLocalTestStore(persist.dir);
});
afterAll(async () => {
  await store?.close();
  await persist?.remove();
  await rows?.remove();
});

const LIMITS = scaledPageLimits(4_000);
let clock = Date.UTC(2026, 11, 1);

/** `n` keyed rows, sorted by key like a table sorted by date; `edit` changes some of them. */
function table(ids: number[], edit: (id: number) => string = () => "") {
  return pl.DataFrame({ id: ids.map((i) => `k${String(i).padStart(6, "0")}`), value: ids.map((i) => i * 1.5), note: ids.map((i) => `row ${i}${edit(i)}`) });
}

/** Publishes a frame as a version of `dataset` (small pages, so a few thousand rows make many). */
async function publish(dataset: string, frame: pl.DataFrame, key: string | null = "id", options: { retain?: number; collect?: boolean } = {}) {
  const dir = path.join(rows.dir, `${dataset}-${clock}`);
  const { plan, columns } = await serializeFrame(frame, { key: key ?? undefined, pageLimits: LIMITS, keep: dir });
  return publishVersion(store, { dataset, plan, columns, key, generatedAt: new Date((clock += 1000)), formats: [] }, { collect: options.collect ?? false, retain: options.retain });
}

/** The record of `key` as the edge reads it: the item index, then a range of its page. */
async function item(index: VersionIndex, key: string): Promise<string | null> {
  const items = index.items as Extract<VersionIndex["items"], { kind: "index" }>;
  const at = await locateItem(items, key, async (sha) => (await store.get(itemShardObjectKey(index.dataset, sha)))!.text());
  if (at === null) return null;
  return (await store.get(pageKeyOf(index, at.page), { range: { offset: at.offset, length: at.length } }))!.text();
}

const record = (id: number, edit = "") => JSON.stringify({ id: `k${String(id).padStart(6, "0")}`, value: id * 1.5, note: `row ${id}${edit}` }).replace(/"value":(\d+)(,|})/, '"value":$1.0$2');

describe("a version over the previous one", () => {
  const ids = Array.from({ length: 3000 }, (_, i) => i);

  it("uploads only the pages no retained version holds, and its item index as a delta over the previous base", async () => {
    const first = await publish("v-append", table(ids));
    expect(first.uploaded.reusedPages).toBe(0);
    const v1 = first.index!;
    expect(v1.pages.length).toBeGreaterThan(20);
    const appended = [...ids, ...Array.from({ length: 30 }, (_, i) => 3000 + i)];
    const second = await publish("v-append", table(appended));
    const v2 = second.index!;
    expect(second.uploaded.reusedPages).toBe(v1.pages.length - 1);
    // Uploaded: the grown last page, the new pages, the delta shards and the key changes, a small share of the body.
    expect(second.uploaded.bytes).toBeLessThan(v2.bytes * 0.15);
    const items1 = v1.items as Extract<VersionIndex["items"], { kind: "index" }>;
    const items2 = v2.items as Extract<VersionIndex["items"], { kind: "index" }>;
    expect(items2.shards).toEqual(items1.shards);
    expect(items2.delta.length).toBeGreaterThan(0);
    expect(items2.base_map.filter((n) => n < 0)).toHaveLength(1);
    for (const id of [0, 1234, 2999, 3000, 3029]) expect(await item(v2, `k${String(id).padStart(6, "0")}`), String(id)).toBe(record(id));
    expect(await item(v2, "k999999")).toBeNull();
    expect(v2).toMatchObject({ previous: v1.version, key_changes: { added: 30, changed: 0, removed: 0, listed: true } });
    const changes = parseKeyChanges(await (await store.get(keyChangesKey("v-append", v2.version)))!.text());
    expect(changes.added).toEqual(appended.slice(3000).map((i) => `k${String(i).padStart(6, "0")}`));
  });

  it("finds every key after an edit and a deletion, not the deleted ones, and records them as changed and removed", async () => {
    await publish("v-edit", table(ids));
    const edited = await publish("v-edit", table(ids, (id) => (id === 17 || id === 2500 ? " edited" : "")));
    expect(edited.index!.key_changes).toEqual({ added: 0, changed: 2, removed: 0, listed: true });
    expect(await item(edited.index!, "k000017")).toBe(record(17, " edited"));
    const fewer = ids.filter((id) => id !== 1000 && id !== 17);
    const deleted = (await publish("v-edit", table(fewer, (id) => (id === 2500 ? " edited" : "")))).index!;
    const changes = parseKeyChanges(await (await store.get(keyChangesKey("v-edit", deleted.version)))!.text());
    expect(changes).toMatchObject({ added: [], changed: [], removed: ["k000017", "k001000"] });
    expect(await item(deleted, "k001000")).toBeNull();
    expect(await item(deleted, "k000017")).toBeNull();
    for (const id of [0, 999, 1001, 2500, 2999]) expect(await item(deleted, `k${String(id).padStart(6, "0")}`), String(id)).toBe(record(id, id === 2500 ? " edited" : ""));
  });

  it("builds a new base once the delta would hold more than a quarter of the rows", async () => {
    const first = (await publish("v-rebase", table(ids))).index!;
    const shifted = (await publish("v-rebase", table(ids, () => " all changed"))).index!;
    const items1 = first.items as Extract<VersionIndex["items"], { kind: "index" }>;
    const items2 = shifted.items as Extract<VersionIndex["items"], { kind: "index" }>;
    expect(items2.delta).toEqual([]);
    expect(items2.shards).not.toEqual(items1.shards);
    expect(items2.base_map).toEqual(shifted.pages.map((_, i) => i));
    expect(await item(shifted, "k000042")).toBe(record(42, " all changed"));
  });

  it("keeps storage bounded by the retained versions without an operator: each publish collects what the versions it dropped left", async () => {
    for (let n = 0; n < 8; n++) await publish("v-bounded", table([...ids, ...Array.from({ length: 10 * n }, (_, i) => 3000 + i)]), "id", { retain: 2, collect: true });
    const read = (await readHead(store, "v-bounded"))!;
    expect(read.value.head.versions).toHaveLength(2);
    const referenced = new Set(["datasets/v-bounded/manifest.json"]);
    for (const summary of read.value.head.versions) for (const key of objectKeysOf((await readIndex(store, "v-bounded", summary.version))!)) referenced.add(key);
    expect((await listKeys(store, "datasets/v-bounded/")).sort()).toEqual([...referenced].sort());
  });

  it("stores a page held by two versions once", async () => {
    await publish("v-shared", table(ids), null);
    await publish("v-shared", table([...ids, 3000]), null);
    const { head } = (await readPublished(store, "v-shared"))!;
    expect(head.versions).toHaveLength(2);
    const pages = (await listKeys(store, "datasets/v-shared/pages/")).length;
    const current = (await readPublished(store, "v-shared"))!.current!;
    // Every page of the newer version, plus the one page of the older version it no longer holds.
    expect(pages).toBe(current.pages.length + 1);
  });
});
