/**
 * Compare-and-swap on one JSON object: read it with its etag, compute the next value, write it only
 * if the etag still matches (create-only when it did not exist), and on a lost swap read again and
 * retry. Manifests, rebuild requests and their pointers all change this way, so two writers (a
 * publisher and an operator, two schedulers) never overwrite each other.
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#conditional-operations
 */
import { withRetry } from "../retry.ts";
import type { ObjectStore } from "../storage.ts";
import { ProtocolError } from "./errors.ts";

/** A value read from storage with the etag to swap against. */
export interface Versioned<T> {
  value: T;
  etag: string;
}

/** How many times a lost swap is retried before giving up with a "conflict". */
export const SWAP_ATTEMPTS = 5;

const JSON_TYPE = "application/json";

/**
 * Reads a JSON object and parses it.
 * @returns null when there is no object under `key`
 * @throws {ProtocolError} "corrupt" when the object is there but `parse` refuses it
 */
export async function readVersioned<T>(store: ObjectStore, key: string, parse: (text: string) => T): Promise<Versioned<T> | null> {
  const object = await store.get(key);
  if (object === null) return null;
  const text = await object.text();
  try {
    return { value: parse(text), etag: object.etag };
  } catch (error) {
    throw new ProtocolError("corrupt", `${key} is unreadable: ${(error as Error).message}`, { cause: error });
  }
}

/** Writes a new JSON object only if none exists. @returns false when one did. */
export async function createObject(store: ObjectStore, key: string, value: unknown): Promise<boolean> {
  return (await store.put(key, JSON.stringify(value), { contentType: JSON_TYPE, ifNoneMatch: "*" })) !== null;
}

export interface SwapOptions<T> {
  parse: (text: string) => T;
  /**
   * The next value from the current one (null when there is no object yet), or null for "nothing
   * to change". May throw (a ProtocolError) to refuse the change; it is called again after a lost
   * swap, with the newer value.
   */
  change: (current: T | null) => T | null;
  attempts?: number;
  /** Names the object in the conflict message ("the manifest of airport-delays"). */
  what?: string;
  /** Called after each lost swap, before the retry (for logs). */
  onLostSwap?: (attempt: number) => void;
  /**
   * The value as the caller already read it (null: it did not exist), used for the first attempt
   * instead of reading again; when it is stale the swap is lost and the retry reads afresh.
   */
  initial?: Versioned<T> | null;
  /** The stored text of a value. Default JSON.stringify. */
  serialize?: (value: T) => string;
  /**
   * Runs before each write with the value it replaces (e.g. storing objects the new value will
   * reference). Default: nothing.
   */
  prepare?: (current: T | null) => Promise<void>;
}

export interface SwapResult<T> {
  before: T | null;
  after: T | null;
  changed: boolean;
}

class LostSwap extends Error {}

/**
 * Swaps a JSON object by compare-and-swap, retrying lost swaps with a short jittered backoff.
 * @throws {ProtocolError} "conflict" after `attempts` lost swaps; "corrupt" when the stored value
 *   does not parse; whatever `change` throws
 */
export async function swapObject<T>(store: ObjectStore, key: string, options: SwapOptions<T>): Promise<SwapResult<T>> {
  try {
    return await withRetry(
      async (attempt) => {
        const current = attempt === 1 && options.initial !== undefined ? options.initial : await readVersioned(store, key, options.parse);
        const next = options.change(current?.value ?? null);
        if (next === null) return { before: current?.value ?? null, after: current?.value ?? null, changed: false };
        await options.prepare?.(current?.value ?? null);
        const written = await store.put(key, (options.serialize ?? JSON.stringify)(next), {
          contentType: JSON_TYPE,
          ...(current === null ? { ifNoneMatch: "*" as const } : { ifMatch: current.etag }),
        });
        if (written === null) throw new LostSwap();
        return { before: current?.value ?? null, after: next, changed: true };
      },
      {
        attempts: options.attempts ?? SWAP_ATTEMPTS,
        baseDelayMs: 20,
        maxDelayMs: 500,
        shouldRetry: (error) => error instanceof LostSwap,
        onRetry: (_error, attempt) => options.onLostSwap?.(attempt),
      },
    );
  } catch (error) {
    if (!(error instanceof LostSwap)) throw error;
    const attempts = options.attempts ?? SWAP_ATTEMPTS;
    throw new ProtocolError("conflict", `${options.what ?? key} kept changing concurrently (${attempts} attempts); try again`);
  }
}
