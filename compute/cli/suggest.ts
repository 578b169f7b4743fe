/**
 * "Did you mean": the known name closest to a mistyped one, by edit distance. Pure.
 */

/** Levenshtein distance: the fewest single-character insertions, deletions or substitutions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known name closest to `name`, or null when none is close: within a third of the longer
 * name's length (at least 2 edits), or one of them containing the other.
 */
export function closestName(name: string, known: readonly string[]): string | null {
  let best: { name: string; distance: number } | null = null;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    const close = distance <= Math.max(2, Math.floor(Math.max(name.length, candidate.length) / 3));
    const contained = name.length >= 3 && (candidate.includes(name) || name.includes(candidate));
    if ((close || contained) && (best === null || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name ?? null;
}
