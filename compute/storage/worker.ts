/**
 * The local driver under `npm start`: the storage interface over the local Worker's storage API
 * (contract/storage-api.ts), so a run writes the same on-disk R2 bucket that `wrangler dev` serves
 * through the Worker that serves it, instead of starting a local runtime of its own (about 250 MB
 * and 0.7-3 s per run) and racing it for the same files. Bodies stream in both directions.
 */
import { EdgesnapError } from "../errors.ts";
import {
  ListAnswerSchema,
  ObjectInfoWireSchema,
  STORAGE_API_PREFIX,
  STORAGE_HEADERS,
  fromWire,
  storageObjectPath,
} from "../../contract/storage-api.ts";
import type { GetOptions, ListOptions, ListResult, ObjectInfo, ObjectStore, PutBody, PutOptions, StoredObject } from "../../contract/storage.ts";

export interface WorkerStoreOptions {
  /** The local Worker, e.g. http://127.0.0.1:8787. */
  edgeUrl: string;
  token: string;
  /**
   * Per request. Default 60 s. A streamed upload has none: fetch's signal covers the whole body,
   * which for a large object can rightly take minutes (the run's own timeout still bounds it).
   */
  timeoutMs?: number;
}

/**
 * No storage API to write through: nothing answers at the Worker's URL, or the Worker there has its
 * storage API off (a plain `wrangler dev`, not `npm start`). As opposed to a Worker that refused.
 */
export class WorkerUnreachable extends EdgesnapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("storage", message, options);
  }
}

function infoHeader(response: Response): ObjectInfo {
  const raw = response.headers.get(STORAGE_HEADERS.info);
  if (raw === null) throw new EdgesnapError("storage", "the local Worker's storage API answered without object info");
  return fromWire(ObjectInfoWireSchema.parse(JSON.parse(decodeURIComponent(raw))));
}

async function failure(operation: string, response: Response): Promise<EdgesnapError> {
  let message = `${response.status}`;
  try {
    message = ((await response.json()) as { error?: { message?: string } }).error?.message ?? message;
  } catch {
    // the status is enough
  }
  return new EdgesnapError(response.status === 401 ? "unauthorized" : "storage", `${operation}: the local Worker answered ${response.status}: ${message}`);
}

/**
 * Opens the driver and checks that the Worker's storage API answers.
 * @throws {WorkerUnreachable} when nothing answers at `edgeUrl`, or its storage API is off
 * @throws {EdgesnapError} "storage" when the API is off; "unauthorized" when the Worker refuses the token
 */
export async function openWorkerStore(options: WorkerStoreOptions): Promise<ObjectStore> {
  const base = `${options.edgeUrl.replace(/\/+$/, "")}`;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const authorization = `Bearer ${options.token}`;

  async function call(path: string, init: RequestInit & { duplex?: "half" } = {}): Promise<Response> {
    try {
      return await fetch(`${base}${path}`, {
        ...init,
        headers: { authorization, ...(init.headers as Record<string, string> | undefined) },
        signal: init.duplex === "half" ? undefined : AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
      throw new WorkerUnreachable(`cannot reach the local Worker at ${base}: ${reason}`, { cause: error });
    }
  }

  const store: ObjectStore = {
    kind: "worker",
    async get(key: string, get: GetOptions = {}): Promise<StoredObject | null> {
      const query = get.range ? `?offset=${get.range.offset}&length=${get.range.length}` : "";
      const response = await call(`${storageObjectPath(key)}${query}`);
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) throw await failure(`get ${key}`, response);
      const body = response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
      return { ...infoHeader(response), body, text: () => new Response(body).text() };
    },
    async head(key: string): Promise<ObjectInfo | null> {
      const response = await call(storageObjectPath(key), { method: "HEAD" });
      if (response.status === 404) return null;
      if (!response.ok) throw await failure(`head ${key}`, response);
      return infoHeader(response);
    },
    async put(key: string, body: PutBody, put: PutOptions = {}): Promise<ObjectInfo | null> {
      const headers: Record<string, string> = {};
      if (put.contentType) headers["content-type"] = put.contentType;
      if (put.sha256) headers[STORAGE_HEADERS.sha256] = put.sha256;
      if (put.customMetadata) headers[STORAGE_HEADERS.metadata] = encodeURIComponent(JSON.stringify(put.customMetadata));
      if (put.ifMatch) headers["if-match"] = `"${put.ifMatch}"`;
      if (put.ifNoneMatch) headers["if-none-match"] = "*";
      const streamed = body instanceof ReadableStream;
      const response = await call(storageObjectPath(key), {
        method: "PUT",
        headers,
        body: body as RequestInit["body"],
        ...(streamed ? { duplex: "half" as const } : {}),
      });
      if (response.status === 412) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) throw await failure(`put ${key}`, response);
      return fromWire(ObjectInfoWireSchema.parse(await response.json()));
    },
    async delete(keys: string | readonly string[]): Promise<void> {
      const list = typeof keys === "string" ? [keys] : [...keys];
      for (let start = 0; start < list.length; start += 1000) {
        const response = await call(`${STORAGE_API_PREFIX}/delete`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ keys: list.slice(start, start + 1000) }),
        });
        if (!response.ok) throw await failure(`delete ${list.length} keys`, response);
        await response.body?.cancel();
      }
    },
    async list(prefix: string, list: ListOptions = {}): Promise<ListResult> {
      const query = new URLSearchParams({ prefix });
      if (list.delimiter) query.set("delimiter", list.delimiter);
      if (list.cursor) query.set("cursor", list.cursor);
      if (list.limit !== undefined) query.set("limit", String(list.limit));
      const response = await call(`${STORAGE_API_PREFIX}/list?${query}`);
      if (!response.ok) throw await failure(`list ${prefix}`, response);
      const answer = ListAnswerSchema.parse(await response.json());
      return { objects: answer.objects.map(fromWire), prefixes: answer.prefixes, cursor: answer.cursor ?? undefined };
    },
    async close(): Promise<void> {
      // Nothing to release: fetch's connection pool closes idle sockets by itself.
    },
  };
  const probe = await call(`${STORAGE_API_PREFIX}/list?prefix=__probe__%2F&limit=1`);
  if (probe.status === 404) {
    await probe.body?.cancel();
    throw new WorkerUnreachable(`the Worker at ${base} has its storage API off`);
  }
  if (!probe.ok) throw await failure("open the storage API", probe);
  await probe.body?.cancel();
  return store;
}
