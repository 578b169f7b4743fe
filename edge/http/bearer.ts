/**
 * Bearer-token check for internal endpoints. The comparison hashes both sides first and compares
 * the digests in constant time, so neither the content nor the length of the secret leaks through
 * response timing. https://developers.cloudflare.com/workers/examples/protect-against-timing-attacks/
 */

/** Extracts the token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or null. */
export function bearerToken(header: string | null | undefined): string | null {
  if (header == null) return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** Whether `presented` equals `expected`, in time independent of where they differ. */
export async function tokensEqual(presented: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
