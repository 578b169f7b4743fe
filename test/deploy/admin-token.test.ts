/**
 * The admin token's rules outside the Worker: the compute side refuses to start with an
 * EDGESNAP_TOKEN shorter than 32 characters, naming the variable, its length and how to make one
 * (never its value); the token `npm start` makes for itself is long enough; and every environment
 * of wrangler.toml configures the AUTH_FAILURES rate limit with the limit and period the Worker's
 * in-memory fallback uses, each in its own namespace.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { MIN_TOKEN_LENGTH } from "../../contract/admin-token.ts";
import { loadConfig } from "../../compute/config.ts";
import { EdgesnapError } from "../../compute/errors.ts";

/**
 * edge/http/rate-limit.ts's AUTH_FAILURE_LIMIT and AUTH_FAILURE_PERIOD_S, the in-memory fallback's
 * numbers (a Workers-typed module; test/edge/rate-limit.test.ts checks they are these).
 */
const AUTH_FAILURE_LIMIT = 10;
const AUTH_FAILURE_PERIOD_S = 60;

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("EDGESNAP_TOKEN on the compute side", () => {
  it("refuses a token shorter than 32 characters with a config error naming its length and `openssl rand -hex 32`, not its value", () => {
    for (const token of ["x", "short-but-not-empty", "a".repeat(MIN_TOKEN_LENGTH - 1)]) {
      let error: unknown;
      try {
        loadConfig({ EDGESNAP_TOKEN: token });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(EdgesnapError);
      expect((error as EdgesnapError).code).toBe("config");
      expect((error as EdgesnapError).message).toBe(
        `invalid setting EDGESNAP_TOKEN (${token.length} characters long, shorter than the 32 required; make one with \`openssl rand -hex 32\`)`,
      );
      if (token.length > 1) expect((error as EdgesnapError).message).not.toContain(token);
    }
  });

  it("takes a token of 32 characters or more, such as `openssl rand -hex 32` makes", () => {
    expect(loadConfig({ EDGESNAP_TOKEN: "b".repeat(MIN_TOKEN_LENGTH) }).token).toBe("b".repeat(MIN_TOKEN_LENGTH));
    const hex = randomBytes(32).toString("hex");
    expect(loadConfig({ EDGESNAP_TOKEN: hex }).token).toBe(hex);
  });

  it("makes a local npm start token as long as the minimum (24 random bytes in base64url)", () => {
    // compute/cli/commands/start.ts: randomBytes(24).toString("base64url").
    expect(randomBytes(24).toString("base64url")).toHaveLength(MIN_TOKEN_LENGTH);
  });
});

describe("the AUTH_FAILURES rate limit in wrangler.toml", () => {
  interface Limits {
    ratelimits?: { name: string; namespace_id: string; simple: { limit: number; period: number } }[];
  }
  const read = (env?: string) => unstable_readConfig({ config: path.join(ROOT, "wrangler.toml"), env }) as Limits;

  it.each(["", "staging", "production"])("env %j counts 10 wrong tokens a minute, as the Worker's fallback does", (env) => {
    const limits = read(env || undefined).ratelimits ?? [];
    expect(limits.map((l) => [l.name, l.simple])).toEqual([["AUTH_FAILURES", { limit: AUTH_FAILURE_LIMIT, period: AUTH_FAILURE_PERIOD_S }]]);
  });

  it("gives each environment its own namespace, so their counts never mix", () => {
    const ids = ["", "staging", "production"].map((env) => read(env || undefined).ratelimits?.[0]?.namespace_id);
    expect(new Set(ids).size).toBe(3);
  });
});
