/**
 * The client's in-memory ETag cache: the last answer of each URL with its ETag, so the next request
 * sends If-None-Match and a 304 reuses the parsed body. Bounded by the size of the answers' text,
 * least recently used first out, so paging through a large dataset cannot fill memory.
 */

export interface CachedAnswer {
  etag: string;
  body: unknown;
  /** The answer's Link header (pages), kept so a 304 can still be followed. */
  link: string | null;
  /** Size of the answer's text, in UTF-16 code units (close enough to bytes for a budget). */
  size: number;
}

export class EtagCache {
  readonly #limit: number;
  readonly #entries = new Map<string, CachedAnswer>();
  #size = 0;

  /** @param limit total size of the answers kept; 0 keeps none */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The cached answer of `url`, marked as just used. */
  get(url: string): CachedAnswer | undefined {
    const entry = this.#entries.get(url);
    if (entry !== undefined) {
      this.#entries.delete(url);
      this.#entries.set(url, entry);
    }
    return entry;
  }

  /** Keeps an answer, dropping the least recently used ones beyond the limit. */
  set(url: string, entry: CachedAnswer): void {
    this.delete(url);
    if (entry.size > this.#limit) return;
    this.#entries.set(url, entry);
    this.#size += entry.size;
    for (const [oldest, old] of this.#entries) {
      if (this.#size <= this.#limit) break;
      this.#entries.delete(oldest);
      this.#size -= old.size;
    }
  }

  delete(url: string): void {
    const entry = this.#entries.get(url);
    if (entry === undefined) return;
    this.#entries.delete(url);
    this.#size -= entry.size;
  }

  /** How many answers are kept (for tests and diagnostics). */
  get count(): number {
    return this.#entries.size;
  }
}
