/**
 * The status page's banner after an action. An action redirects to the page with a message code
 * and its parts (`?msg=pinned&dataset=airport-delays`), and the page shows only a message of its
 * own table, with parts that pass the same checks as names and version ids; anything else shows
 * nothing. So a link someone sends an operator can never put words in the signed-in page.
 */
import { isDatasetName, isVersionId } from "../../contract/names.ts";

/** The parts a message may name, each checked before it is shown. */
export interface FlashParts {
  dataset: string;
  version?: string;
  previous?: string;
}

/** Every message the page shows, by code. */
const MESSAGES = {
  "rebuild-requested": (p: FlashParts) => `${p.dataset}: rebuild requested`,
  "rebuild-pending": (p: FlashParts) => `${p.dataset}: rebuild already pending`,
  pinned: (p: FlashParts) => `${p.dataset}: pinned`,
  unpinned: (p: FlashParts) => `${p.dataset}: unpinned`,
  "rolled-back": (p: FlashParts) => `${p.dataset}: now serving ${p.version ?? "?"} (was ${p.previous ?? "-"}), pinned`,
  "choose-version": (p: FlashParts) => `${p.dataset}: choose a version to roll back to`,
  "not-retained": (p: FlashParts) => `${p.dataset}: ${p.version ?? "that version"} is not a retained version`,
  conflict: (p: FlashParts) => `${p.dataset}: the manifest kept changing while this ran; try again`,
  unreadable: (p: FlashParts) => `${p.dataset}: the manifest is unreadable; restore it or publish again`,
  "unknown-dataset": (p: FlashParts) => `unknown dataset ${p.dataset}`,
} as const;

export type FlashCode = keyof typeof MESSAGES;

/** The query of a redirect that shows `code` with `parts`. */
export function flashQuery(code: FlashCode, parts: FlashParts): string {
  const query = new URLSearchParams({ msg: code, dataset: parts.dataset });
  if (parts.version !== undefined) query.set("version", parts.version);
  if (parts.previous !== undefined) query.set("previous", parts.previous);
  return query.toString();
}

function isFlashCode(value: string): value is FlashCode {
  return Object.hasOwn(MESSAGES, value);
}

/**
 * The banner for a page's query, or undefined when there is none to show: an unknown code, a part
 * that is not a dataset name or a version id, or an unexpected parameter all show nothing.
 */
export function flashMessage(query: Record<string, string>): string | undefined {
  const { msg, dataset, version, previous, ...rest } = query;
  if (msg === undefined || !isFlashCode(msg) || Object.keys(rest).length > 0) return undefined;
  if (dataset === undefined || !isDatasetName(dataset)) return undefined;
  if (version !== undefined && !isVersionId(version)) return undefined;
  if (previous !== undefined && !isVersionId(previous)) return undefined;
  return MESSAGES[msg]({ dataset, version, previous });
}
