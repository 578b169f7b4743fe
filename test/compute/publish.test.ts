import { describe, expect, it } from "vitest";
import { withPublishedVersion, type VersionSummary } from "../../contract/index.ts";
import { matchingVersion } from "../../contract/protocol/manifests.ts";

const info = (n: number, hashDigit: string): VersionSummary => ({
  version: `2026112${n}T161500123Z-${hashDigit.repeat(8)}`,
  hash: hashDigit.repeat(64),
  generated_at: `2026-11-2${n}T16:15:00.123Z`,
  rows: 1,
  bytes: 1,
});

describe("matchingVersion (what counts as unchanged)", () => {
  const now = new Date("2026-11-25T00:00:00Z");
  const one = withPublishedVersion(null, "d", info(1, "a"), now).head;
  const two = withPublishedVersion(one, "d", info(2, "b"), now).head;

  it("matches the current version's hash", () => {
    expect(matchingVersion(two, "b".repeat(64))?.version).toBe(info(2, "b").version);
  });

  it("does not match an older version: republishing old content makes it current again", () => {
    expect(matchingVersion(two, "a".repeat(64))).toBeUndefined();
  });

  it("matches nothing before the first publish", () => {
    expect(matchingVersion(null, "a".repeat(64))).toBeUndefined();
  });

  it("while pinned, also matches the newest built version so repeated builds add no duplicates", () => {
    const pinned = { ...one, pinned: true };
    const built = withPublishedVersion(pinned, "d", info(2, "b"), now).head;
    expect(built.current).toBe(info(1, "a").version);
    expect(matchingVersion(built, "b".repeat(64))?.version).toBe(info(2, "b").version);
    expect(matchingVersion(built, "a".repeat(64))?.version).toBe(info(1, "a").version);
  });
});
