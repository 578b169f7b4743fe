/**
 * What changed between two versions, for clients that hold one and want the other without fetching
 * everything: the pages that are new (a diff of the two indexes' page hashes, cheap at any time) and,
 * for keyed datasets, the keys added, changed and removed. Key changes are worked out once, at
 * publish time, against the version that was current then (`keyChangesKey`); between versions
 * further apart they are composed along that chain, forwards, or backwards after a rollback.
 */
import { z } from "zod";
import { VERSION_ID_PATTERN } from "./names.ts";
import type { Page, VersionIndex } from "./version-index.ts";

/** At most this many keys are listed per version; beyond it clients are told to fetch the pages. */
export const MAX_LISTED_KEY_CHANGES = 100_000;

export const KeyChangesSchema = z.object({
  since: z.string().regex(VERSION_ID_PATTERN),
  version: z.string().regex(VERSION_ID_PATTERN),
  added: z.array(z.string()),
  changed: z.array(z.string()),
  removed: z.array(z.string()),
});
export type KeyChanges = z.infer<typeof KeyChangesSchema>;

/** Key sets only (which versions they span is the caller's). */
export type KeyDelta = Pick<KeyChanges, "added" | "changed" | "removed">;

/** Parses a stored key-changes object. @throws {Error} for anything else */
export function parseKeyChanges(text: string): KeyChanges {
  const result = KeyChangesSchema.safeParse(JSON.parse(text));
  if (!result.success) throw new Error(`invalid key changes: ${result.error.issues[0]?.path.join(".")}: ${result.error.issues[0]?.message}`);
  return result.data;
}

type KeyState = "added" | "changed" | "removed";

/**
 * The net effect of applying `deltas` in order, for a client that held the state before the first.
 * Added then removed is nothing; removed then added is changed; changed or added then changed keeps
 * the first; anything then removed is removed (unless it was added within the sequence). Pure.
 */
export function composeKeyDeltas(deltas: readonly KeyDelta[]): KeyDelta {
  const net = new Map<string, KeyState>();
  for (const delta of deltas) {
    for (const key of delta.added) net.set(key, net.get(key) === "removed" ? "changed" : "added");
    for (const key of delta.changed) if (!net.has(key)) net.set(key, "changed");
    for (const key of delta.removed) {
      if (net.get(key) === "added") net.delete(key);
      else net.set(key, "removed");
    }
  }
  const out: KeyDelta = { added: [], changed: [], removed: [] };
  for (const [key, state] of net) out[state].push(key);
  for (const list of [out.added, out.changed, out.removed]) list.sort();
  return out;
}

/** The delta that undoes `delta`. Pure. */
export function invertKeyDelta(delta: KeyDelta): KeyDelta {
  return { added: delta.removed, changed: delta.changed, removed: delta.added };
}

/** The pages of `to` that a client holding `from` does not have, and how many it keeps. Pure. */
export function newPages(from: Pick<VersionIndex, "pages">, to: Pick<VersionIndex, "pages">): { pages: (Page & { n: number })[]; kept: number } {
  const held = new Set(from.pages.map((page) => page.sha256));
  const pages = to.pages.flatMap((page, i) => (held.has(page.sha256) ? [] : [{ ...page, n: i + 1 }]));
  return { pages, kept: to.pages.length - pages.length };
}

/**
 * The versions from `from` to `to` along `previous` links, oldest first, excluding `from`: the
 * chain whose key changes compose into from→to. Null when `to` does not descend from `from` within
 * `maxSteps` (the caller then tries the reverse, for a rollback). `previousOf` reads an index's link.
 */
export async function versionChain(from: string, to: string, previousOf: (version: string) => Promise<string | null>, maxSteps = 100): Promise<string[] | null> {
  const chain: string[] = [];
  let at: string | null = to;
  for (let step = 0; at !== null && step <= maxSteps; step++) {
    if (at === from) return chain.reverse();
    chain.push(at);
    at = await previousOf(at);
  }
  return null;
}
