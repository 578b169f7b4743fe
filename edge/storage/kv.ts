/**
 * Hot copies in Workers KV: a read-through copy of immutable objects only (version indexes, pages and item shards),
 * kept under the object's own key, so KV's eventual consistency (a write can take 60 s or more to
 * reach other locations) can never make an answer stale: an immutable key is either there, with
 * the right bytes, or not. With edge/storage/r2.ts, the only module that touches a binding.
 * https://developers.cloudflare.com/kv/concepts/how-kv-works/
 */

/**
 * KV values are limited to 25 MiB; keep a margin. Larger objects are read from R2 only.
 * https://developers.cloudflare.com/kv/platform/limits/
 */
export const HOT_COPY_LIMIT_BYTES = 25 * 1024 * 1024 - 64 * 1024;

/** Hot copies live this long; the cron re-copies what is still current before they expire. */
export const HOT_COPY_TTL_SECONDS = 7 * 86_400;
/** A version's "all copies made" marker expires a day before the copies it vouches for. */
export const HOT_COPY_MARKER_TTL_SECONDS = HOT_COPY_TTL_SECONDS - 86_400;

export interface HotCopies {
  /** The copy as a stream, or null when there is none. */
  stream(key: string): Promise<ReadableStream<Uint8Array> | null>;
  /** The copy as text, or null when there is none. */
  text(key: string): Promise<string | null>;
  /** Stores a copy (or, with kind "marker", a version's marker) with its expiry. */
  put(key: string, value: ReadableStream<Uint8Array> | string, kind?: "copy" | "marker"): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Every copy under `prefix` with when it expires (ms since the epoch). KV's listing is eventually
   * consistent: a hint, never a proof.
   */
  list(prefix: string): Promise<{ key: string; expiresAt: number | null }[]>;
}

/** How many KV deletes run at once (Workers allow 6 simultaneous open connections). */
const DELETE_CONCURRENCY = 6;

/** The hot copies in the SNAPSHOT_KV namespace. */
export function openHotCopies(env: Env): HotCopies {
  const kv = env.SNAPSHOT_KV;
  return {
    stream: (key) => kv.get(key, "stream") as Promise<ReadableStream<Uint8Array> | null>,
    text: (key) => kv.get(key, "text"),
    put: (key, value, kind = "copy") =>
      kv.put(key, value, { expirationTtl: kind === "marker" ? HOT_COPY_MARKER_TTL_SECONDS : HOT_COPY_TTL_SECONDS }),
    async list(prefix) {
      const out: { key: string; expiresAt: number | null }[] = [];
      let cursor: string | undefined;
      do {
        const page: KVNamespaceListResult<unknown, string> = await kv.list({ prefix, cursor });
        out.push(...page.keys.map((key) => ({ key: key.name, expiresAt: key.expiration === undefined ? null : key.expiration * 1000 })));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor !== undefined);
      return out;
    },
    async delete(keys) {
      for (let start = 0; start < keys.length; start += DELETE_CONCURRENCY) {
        await Promise.all(keys.slice(start, start + DELETE_CONCURRENCY).map((key) => kv.delete(key)));
      }
    },
  };
}
