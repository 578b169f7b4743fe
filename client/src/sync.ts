/**
 * Following a dataset at the cost of what changed: a `DatasetSync` holds one version (its pages, by
 * sha256) and `sync()` fetches only the pages the current version has that the held one lacks
 * (`GET /v1/datasets/:name/changes?since=`), then its index, and assembles the body from the pages
 * it holds and the new ones. The assembled body is checked against the version's sha256 (the body's
 * ETag) before it replaces the held one, so a sync either ends holding exactly the current version
 * or throws and keeps what it held.
 *
 * Pages are fetched at their by-hash URL, which is immutable and shared by every version holding
 * the page: caches (the browser's, the edge's) keep serving an unchanged page across versions.
 */
import { EdgesnapError, INVALID_RESPONSE } from "./errors.ts";

/** A page of a version's index, as `/v1/datasets/:name/versions/:version/index` lists it. */
export interface IndexPage {
  n: number;
  first_row: number;
  rows: number;
  bytes: number;
  sha256: string;
  url: string;
}

/** A version's index document. */
export interface VersionIndexDocument {
  dataset: string;
  version: string;
  hash: string;
  generated_at: string;
  rows: number;
  bytes: number;
  key: string | null;
  columns: { name: string; type: string; nullable: boolean }[];
  pages: IndexPage[];
  formats: Record<string, { bytes: number; sha256: string; url: string }>;
  previous: string | null;
}

/** Keys added, changed and removed between two versions of a keyed dataset. */
export interface KeyDelta {
  added: string[];
  changed: string[];
  removed: string[];
}

/** `GET /v1/datasets/:name/changes?since=` */
export interface ChangesDocument {
  dataset: string;
  since: string;
  version: string;
  hash: string;
  rows: number;
  bytes: number;
  index: string;
  pages: { total: number; kept: number; new_bytes: number; new: IndexPage[] };
  keys: KeyDelta | null;
  keys_unavailable?: string;
}

/** What one `sync()` did. */
export interface SyncResult {
  version: string;
  /** Whether the held version changed. */
  changed: boolean;
  /** Pages fetched and pages reused from the held version. */
  fetchedPages: number;
  keptPages: number;
  /** Bytes of the answers fetched (pages and documents). */
  fetchedBytes: number;
  /** For a keyed dataset, what changed between the versions (null when unknown, or on a first sync). */
  keys: KeyDelta | null;
}

/** What a DatasetSync needs from the client: JSON documents and raw bytes, both by URL. */
export interface SyncTransport {
  /** A JSON document and the bytes it took, or null for a 410 (`since` no longer retained). */
  json<T>(url: string, options?: { goneIsNull?: boolean }): Promise<{ body: T; bytes: number } | null>;
  bytes(url: string): Promise<Uint8Array>;
}

/**
 * The full body from a version's pages, as the Worker joins them: each page object is a JSON array,
 * and the body drops the closing bracket of every page but the last and the opening bracket of
 * every page but the first, with a comma between them. Pure.
 */
export function joinPages(pages: readonly Uint8Array[]): Uint8Array {
  const parts = pages.map((page, i) => page.subarray(i === 0 ? 0 : 1, i === pages.length - 1 ? page.length : page.length - 1));
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0) + Math.max(0, parts.length - 1));
  let at = 0;
  parts.forEach((part, i) => {
    if (i > 0) out[at++] = 0x2c; // ,
    out.set(part, at);
    at += part.length;
  });
  return out;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Holds one version of a dataset and brings it up to date by what changed. */
export class DatasetSync<Row = unknown> {
  readonly #datasetUrl: string;
  readonly #transport: SyncTransport;
  #version: string | null = null;
  #pages = new Map<string, Uint8Array>();
  #order: string[] = [];
  #body: Uint8Array | null = null;

  constructor(datasetUrl: string, transport: SyncTransport) {
    this.#datasetUrl = datasetUrl;
    this.#transport = transport;
  }

  /** The version held, or null before the first sync. */
  get version(): string | null {
    return this.#version;
  }

  /**
   * Brings the held version up to the current one, fetching only the pages it lacks.
   * @throws {EdgesnapError} for an error answer, or "invalid_response" when the assembled body does
   *   not match the version's sha256 (nothing held changes then)
   */
  async sync(): Promise<SyncResult> {
    let fetchedBytes = 0;
    let keys: KeyDelta | null = null;
    let indexUrl = `${this.#datasetUrl}/index`;
    if (this.#version !== null) {
      const changes = await this.#transport.json<ChangesDocument>(`${this.#datasetUrl}/changes?since=${encodeURIComponent(this.#version)}`, { goneIsNull: true });
      if (changes !== null) {
        fetchedBytes += changes.bytes;
        if (changes.body.version === this.#version) return { version: this.#version, changed: false, fetchedPages: 0, keptPages: this.#order.length, fetchedBytes, keys: { added: [], changed: [], removed: [] } };
        keys = changes.body.keys;
        indexUrl = new URL(changes.body.index, this.#datasetUrl).href;
      }
    }
    const index = (await this.#transport.json<VersionIndexDocument>(indexUrl))!;
    fetchedBytes += index.bytes;
    const pages = new Map<string, Uint8Array>();
    let fetchedPages = 0;
    for (const page of index.body.pages) {
      let bytes = pages.get(page.sha256) ?? this.#pages.get(page.sha256);
      if (bytes === undefined) {
        bytes = await this.#transport.bytes(new URL(page.url, this.#datasetUrl).href);
        fetchedPages += 1;
        fetchedBytes += bytes.byteLength;
      }
      pages.set(page.sha256, bytes);
    }
    const order = index.body.pages.map((page) => page.sha256);
    const body = joinPages(order.map((sha) => pages.get(sha)!));
    const hash = await sha256Hex(body);
    if (hash !== index.body.hash) {
      throw new EdgesnapError(200, INVALID_RESPONSE, `the pages of ${index.body.dataset}@${index.body.version} join into a body whose sha256 is ${hash}, not ${index.body.hash}`);
    }
    const changed = this.#version !== index.body.version;
    this.#version = index.body.version;
    this.#pages = pages;
    this.#order = order;
    this.#body = body;
    return { version: index.body.version, changed, fetchedPages, keptPages: order.length - fetchedPages, fetchedBytes, keys };
  }

  /** The held version's body: the same bytes as `GET /v1/datasets/:name` of that version. */
  body(): Uint8Array {
    if (this.#body === null) throw new EdgesnapError(0, "bad_request", "nothing is held yet: call sync() first");
    return this.#body;
  }

  /** The held version's rows. */
  rows(): Row[] {
    return JSON.parse(new TextDecoder().decode(this.body())) as Row[];
  }
}
