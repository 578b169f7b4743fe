/**
 * The admin token's one rule, checked by both sides: the Worker refuses to run its admin surface
 * with a shorter EDGESNAP_TOKEN, and the compute side refuses to start with one, so a guessable
 * token fails where it is set instead of working. 32 characters is 128 bits written in hex; the
 * token `npm start` makes for itself (24 random bytes in base64url) is exactly that long.
 */

/** The shortest EDGESNAP_TOKEN either side accepts. */
export const MIN_TOKEN_LENGTH = 32;

/** How to make a good token, for error messages and the docs. */
export const MAKE_TOKEN_HINT = "make one with `openssl rand -hex 32`";

/**
 * Why `token` cannot be the admin token, or null: "9 characters long, shorter than the 32
 * required; make one with ..." (its length only, never any of its value).
 */
export function tokenProblem(token: string): string | null {
  if (token.length >= MIN_TOKEN_LENGTH) return null;
  return `${token.length} characters long, shorter than the ${MIN_TOKEN_LENGTH} required; ${MAKE_TOKEN_HINT}`;
}
