/**
 * Authentication of the admin surface. The admin API takes `Authorization: Bearer <EDGESNAP_TOKEN>`
 * (RFC 6750 §2.1), compared in constant time (edge/http/bearer.ts), never logged, and limited per
 * client address (edge/http/rate-limit.ts). The status page's sessions, signed with the same
 * token, are in edge/status-page/session.ts.
 */
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { tokenProblem } from "../../contract/admin-token.ts";
import { bearerToken, tokensEqual } from "./bearer.ts";
import { clientKey, countFailure, refusedFor, tooManyWrongTokens } from "./rate-limit.ts";
import type { AppEnv } from "../env.ts";

/**
 * The configured token, or a 503 when the secret is missing or shorter than MIN_TOKEN_LENGTH (the
 * admin surface is then off: a guessable token must fail where it is set, not work).
 */
export function configuredToken(env: Env): string {
  const expected = env.EDGESNAP_TOKEN;
  if (typeof expected !== "string" || expected === "") {
    throw new HTTPException(503, { message: "the admin API is disabled: the EDGESNAP_TOKEN secret is not set" });
  }
  const problem = tokenProblem(expected);
  if (problem !== null) throw new HTTPException(503, { message: `the admin API is disabled: EDGESNAP_TOKEN is ${problem}` });
  return expected;
}

/**
 * Admin responses must never be cached by a browser or a proxy (RFC 9111 §5.2.2.5). Set before
 * the handler runs, so error responses built by `onError` carry it too.
 */
export function noStore(): MiddlewareHandler {
  return async function noStore(c, next) {
    c.header("Cache-Control", "no-store");
    await next();
    if (!c.res.headers.has("Cache-Control") || c.res.headers.get("Cache-Control") !== "no-store") {
      c.res.headers.set("Cache-Control", "no-store");
    }
  };
}

/**
 * Requires `Authorization: Bearer <EDGESNAP_TOKEN>`; 401 with a JSON error otherwise. Each wrong
 * token counts against the client's limit (edge/http/rate-limit.ts); a client past it gets 429
 * before its token is even compared.
 */
export function requireBearerToken(): MiddlewareHandler<AppEnv> {
  return async function requireBearerToken(c, next) {
    const expected = configuredToken(c.env);
    const client = clientKey(c, "bearer");
    const refused = refusedFor(client);
    if (refused > 0) throw tooManyWrongTokens(c, refused);
    const presented = bearerToken(c.req.header("Authorization"));
    if (presented === null || !(await tokensEqual(presented, expected))) {
      // No header at all is no guess; a wrong token is one.
      if (presented !== null && !(await countFailure(c.env, client))) throw tooManyWrongTokens(c, refusedFor(client));
      c.header("WWW-Authenticate", 'Bearer realm="edgesnap"');
      throw new HTTPException(401, { message: "missing or wrong bearer token" });
    }
    await next();
  };
}
