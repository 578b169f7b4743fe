/**
 * The local Worker's storage API (`/internal/v1/storage/...`): the storage interface over HTTP, so
 * runs under `npm start` write the local R2 bucket through the Worker that serves it, instead of
 * each starting a local runtime of its own. The wire shapes live here, used by the Worker's routes
 * (edge/internal/storage-api.ts) and the compute side's driver (compute/storage/worker.ts).
 */
import { z } from "zod";
import type { ObjectInfo } from "./storage.ts";

/** Path prefix of the storage API on the Worker. */
export const STORAGE_API_PREFIX = "/internal/v1/storage";

/** Request and response headers of the storage API. */
export const STORAGE_HEADERS = {
  /** Lowercase hex sha256 the stored body must match. */
  sha256: "X-Edgesnap-Sha256",
  /** customMetadata as JSON, percent-encoded so any value fits in a header. */
  metadata: "X-Edgesnap-Metadata",
  /** An ObjectInfo as JSON (percent-encoded) on GET and HEAD answers. */
  info: "X-Edgesnap-Object",
} as const;

/** The URL path of one object: the whole key as one percent-encoded path segment. */
export function storageObjectPath(key: string): string {
  return `${STORAGE_API_PREFIX}/objects/${encodeURIComponent(key)}`;
}

export const ObjectInfoWireSchema = z.object({
  key: z.string(),
  etag: z.string(),
  size: z.number(),
  uploaded: z.iso.datetime(),
  customMetadata: z.record(z.string(), z.string()),
});
export type ObjectInfoWire = z.infer<typeof ObjectInfoWireSchema>;

export function toWire(info: ObjectInfo): ObjectInfoWire {
  return { ...info, uploaded: info.uploaded.toISOString() };
}

export function fromWire(wire: ObjectInfoWire): ObjectInfo {
  return { ...wire, uploaded: new Date(wire.uploaded) };
}

export const ListAnswerSchema = z.object({
  objects: z.array(ObjectInfoWireSchema),
  prefixes: z.array(z.string()),
  cursor: z.string().nullable(),
});
export type ListAnswer = z.infer<typeof ListAnswerSchema>;

export const DeleteBodySchema = z.object({ keys: z.array(z.string().min(1)).max(1000) });
