/**
 * The upgrade from schema 2, inside workerd: a store exactly as the code before content-addressed
 * pages wrote it (test/fixtures/schema2-store.json: manifests listing every version's pages, version
 * folders, record shards, whole-file formats) is served as it is, byte for byte, and the first
 * publish after the upgrade writes the small head and the indexes while every old version stays
 * served. A prune then deletes the old versions' folders by reachability.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { FORMATS, manifestObjectKey, SnapshotManifestSchema, versionIndexKey, type SnapshotManifest } from "../../contract/index.ts";
import { findItem } from "../../contract/shards.ts";
import { pruneDataset } from "../../contract/protocol/collect.ts";
import { openR2Store } from "../../edge/storage/r2.ts";
import fixture from "../fixtures/schema2-store.json";
import { sha256Hex } from "../support/fake-publish.ts";
import { BASE, publishFakeVersion } from "./publish-fixture.ts";

const objects = (fixture as { objects: Record<string, { contentType: string | null; base64: string }> }).objects;

function bytesOf(base64: string): Uint8Array {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function stored(key: string): Uint8Array {
  return bytesOf(objects[key]!.base64);
}

function manifestOf(dataset: string): SnapshotManifest {
  return SnapshotManifestSchema.parse(JSON.parse(new TextDecoder().decode(stored(manifestObjectKey(dataset)))));
}

const DATASETS = ["legacy-keyed", "legacy-plain", "legacy-pages"];

async function bytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/** Every version of a schema-2 manifest, served as that code served it: body, pages, items, formats. */
async function expectServedAsBefore(dataset: string, manifest: SnapshotManifest): Promise<void> {
  for (const info of manifest.versions) {
    const base = `${BASE}/v1/datasets/${dataset}/versions/${info.version}`;
    const body = await SELF.fetch(base);
    expect(body.status, base).toBe(200);
    expect(await sha256Hex(await bytes(body)), base).toBe(info.hash);
    expect(body.headers.get("ETag")).toBe(`"${info.hash}"`);
    for (const [n, page] of info.pages.entries()) {
      const res = await SELF.fetch(`${base}/pages/${n + 1}`);
      expect(await sha256Hex(await bytes(res)), `${base} page ${n + 1}`).toBe(page.sha256);
    }
    for (const format of FORMATS) {
      const expected = info.formats[format];
      const res = await SELF.fetch(`${BASE}/v1/datasets/${dataset}/versions/${info.version}.${format}`);
      if (expected === undefined) {
        expect(res.status).toBe(404);
        continue;
      }
      expect(await sha256Hex(await bytes(res)), `${base}.${format}`).toBe(expected.sha256);
    }
    if (info.key !== null) {
      // Each record shard line is `key\trecord`: every item is served as that record.
      for (let shard = 0; shard < info.shards; shard++) {
        const text = new TextDecoder().decode(stored(`datasets/${dataset}/versions/${info.version}/items/${shard}.tsv`));
        const keys = text.split("\n").filter(Boolean).map((line) => line.slice(0, line.indexOf("\t")));
        for (const key of keys.slice(0, 5)) {
          const res = await SELF.fetch(`${base}/items/${encodeURIComponent(key)}`);
          expect(await res.text(), `${base} item ${key}`).toBe(findItem(text, key));
        }
      }
    }
  }
}

beforeAll(async () => {
  for (const [key, object] of Object.entries(objects)) {
    await env.SNAPSHOTS.put(key, stored(key), object.contentType ? { httpMetadata: { contentType: object.contentType } } : undefined);
  }
});

describe("a schema-2 store", () => {
  it("is served as the code that wrote it served it: every version's body, pages, items and formats", async () => {
    for (const dataset of DATASETS) {
      const manifest = manifestOf(dataset);
      expect(manifest.versions.length).toBe(2);
      await expectServedAsBefore(dataset, manifest);
      const current = await SELF.fetch(`${BASE}/v1/datasets/${dataset}`);
      expect(current.headers.get("X-Edgesnap-Version")).toBe(manifest.current);
    }
    expect(manifestOf("legacy-pages").versions[0]!.pages.length).toBeGreaterThan(3);
  });

  it("is upgraded by the first publish: a schema-3 head, an index per old version, and every old version still served", async () => {
    const dataset = "legacy-keyed";
    const manifest = manifestOf(dataset);
    const published = await publishFakeVersion(env, { dataset, key: "iata", records: [{ iata: "K0000", flights: 1, delay: 0 }] });
    const head = JSON.parse(await (await env.SNAPSHOTS.get(manifestObjectKey(dataset)))!.text()) as { schema: number; versions: unknown[][]; current: string };
    expect(head.schema).toBe(3);
    expect(head.current).toBe(published.info.version);
    expect(head.versions.map((v) => v[0])).toEqual([published.info.version, ...manifest.versions.map((v) => v.version)]);
    for (const info of manifest.versions) {
      const index = JSON.parse(await (await env.SNAPSHOTS.get(versionIndexKey(dataset, info.version)))!.text()) as { layout: string; hash: string };
      expect(index).toMatchObject({ layout: "legacy", hash: info.hash });
    }
    await expectServedAsBefore(dataset, manifest);
    expect(await (await SELF.fetch(`${BASE}/v1/datasets/${dataset}/items/K0000`)).json()).toEqual({ iata: "K0000", flights: 1, delay: 0 });
  });

  it("deletes an old version's folder once a prune drops it, and keeps the ones still retained", async () => {
    const dataset = "legacy-pages";
    const manifest = manifestOf(dataset);
    await publishFakeVersion(env, { dataset, records: [{ id: "new" }] });
    const [newest, oldest] = [manifest.versions[0]!, manifest.versions[1]!];
    const pruned = await pruneDataset(openR2Store(env), dataset, { keep: 2 });
    expect(pruned?.dropped.map((v) => v.version)).toEqual([oldest.version]);
    expect((await env.SNAPSHOTS.list({ prefix: `datasets/${dataset}/versions/${oldest.version}/` })).objects).toEqual([]);
    const kept = (await env.SNAPSHOTS.list({ prefix: `datasets/${dataset}/versions/${newest.version}/` })).objects.map((o) => o.key);
    expect(kept.length).toBe(newest.pages.length + 4 + 1);
    await expectServedAsBefore(dataset, { ...manifest, versions: [newest] });
  });
});
