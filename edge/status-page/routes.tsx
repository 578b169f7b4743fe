/** @jsxImportSource hono/jsx */
/**
 * The status page at /admin: server-rendered, never cached, never framed (its CSP,
 * edge/status-page/security-headers.ts). A navigation to any of its pages gets the shell; the
 * shell's script asks for the view with the session's key (edge/status-page/session.ts), and the
 * Worker renders the view only for the whole session: the cookie, the key, not signed out.
 *
 * Signing in posts the token once; the Worker checks it in constant time (and counts wrong ones per
 * address, edge/http/rate-limit.ts), sets the session cookie and answers the origin key, which only
 * the page's own script can read. Actions are forms the script posts with the key; each redirects
 * to a view with a message code (edge/status-page/flash.ts). Signing out ends the session in R2;
 * "sign out everywhere" ends every session issued until then.
 */
import { Hono, type Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { isDatasetName, VERSION_ID_PATTERN } from "../../contract/index.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { rollback, setPinned } from "../../contract/protocol/manifests.ts";
import { createRebuildRequest } from "../../contract/protocol/requests.ts";
import { afterOperatorChange } from "../admin/routes.ts";
import { describeDatasetDetail, describeDatasets, isKnownDataset } from "../admin/overview.ts";
import { configuredToken, noStore } from "../http/auth.ts";
import { tokensEqual } from "../http/bearer.ts";
import { clientKey, countFailure, refusedFor } from "../http/rate-limit.ts";
import { executionContextOf } from "../read/cache.ts";
import { ASSET_PATHS, PAGE_CSS, PAGE_SCRIPT } from "./assets.ts";
import { DatasetPage, OverviewPage, type ReturnTo } from "./components.tsx";
import { flashMessage, flashQuery, type FlashCode, type FlashParts } from "./flash.ts";
import { formBodyLimit, requireSession, sameOriginOnly, type PageEnv } from "./form-guard.ts";
import { Shell } from "./layout.tsx";
import { revokeAllSessions, revokeSession } from "./revocations.ts";
import { statusPageHeaders } from "./security-headers.ts";
import { createSession, originKeyFor, SESSION_KEY_HEADER, sessionLifetimeSeconds, setSessionCookie, clearSessionCookie } from "./session.ts";

type PageContext = Context<PageEnv>;

/** Runs in each dataset's chart on the overview. */
export const RUNS_ON_OVERVIEW = 50;
/** Runs in the chart of a dataset's page: the heartbeat over a longer stretch. */
export const RUNS_ON_DATASET_PAGE = 200;
/**
 * While a rebuild is pending or running, the view reloads itself this often. Each load reads every
 * dataset's manifest, request and shown runs from R2, so an open tab must not poll faster.
 */
const REFRESH_WHILE_BUSY_S = 5;

/** Whether the request is the page's script asking for a view (it carries the key), not a navigation. */
function wantsView(c: PageContext): boolean {
  return c.req.header(SESSION_KEY_HEADER) !== undefined;
}

/** Redirects after an action, to the page it came from, with a message of flash.ts. */
function back(c: PageContext, returnTo: ReturnTo, code: FlashCode, parts: FlashParts): Response {
  const page = returnTo === "dataset" ? `/admin/datasets/${parts.dataset}` : "/admin";
  return c.redirect(`${page}?${flashQuery(code, parts)}`, 303);
}

/** The JSON error of a refused sign-in, with Retry-After for an address past its limit. */
function signInRefused(c: PageContext, seconds: number): never {
  c.header("Retry-After", String(seconds));
  throw new HTTPException(429, { message: `too many wrong tokens from this address: try again in ${seconds} s` });
}

async function signIn(c: PageContext): Promise<Response> {
  const expected = configuredToken(c.env);
  const lifetime = sessionLifetimeSeconds(c.env);
  const client = clientKey(c, "sign-in");
  if (refusedFor(client) > 0) signInRefused(c, refusedFor(client));
  const form = await c.req.parseBody();
  const presented = typeof form.token === "string" ? form.token : "";
  if (presented === "" || !(await tokensEqual(presented, expected))) {
    if (presented !== "" && !(await countFailure(c.env, client))) signInRefused(c, refusedFor(client));
    throw new HTTPException(401, { message: "that token is not right" });
  }
  const session = await createSession(expected);
  setSessionCookie(c, session.cookie, lifetime);
  // The key goes in this answer's body only: the page's script, on this origin, is all that reads it.
  return c.json({ key: await originKeyFor(expected, session.id), expires_in: lifetime });
}

async function overview(c: PageContext): Promise<Response> {
  if (!wantsView(c)) return c.html(<Shell />);
  const { rows, schedulerAlert } = await describeDatasets(c.var.store, { runs: RUNS_ON_OVERVIEW });
  const busy = rows.some(({ dataset }) => dataset.pending_request !== null);
  return c.html(<OverviewPage rows={rows} flash={flashMessage(c.req.query())} refreshSeconds={busy ? REFRESH_WHILE_BUSY_S : undefined} schedulerAlert={schedulerAlert} />);
}

async function datasetPage(c: PageContext): Promise<Response> {
  if (!wantsView(c)) return c.html(<Shell />);
  const name = c.req.param("name") ?? "";
  const detail = isDatasetName(name) ? await describeDatasetDetail(c.var.store, name, { runs: RUNS_ON_DATASET_PAGE }) : null;
  if (detail === null) throw new HTTPException(404, { message: `unknown dataset ${JSON.stringify(name.slice(0, 100))}` });
  const busy = detail.dataset.pending_request !== null;
  return c.html(<DatasetPage detail={detail} flash={flashMessage(c.req.query())} refreshSeconds={busy ? REFRESH_WHILE_BUSY_S : undefined} />);
}

async function rollbackAction(c: PageContext, name: string, returnTo: ReturnTo, version: string): Promise<Response> {
  if (!VERSION_ID_PATTERN.test(version)) return back(c, returnTo, "choose-version", { dataset: name });
  try {
    const change = await afterOperatorChange({ store: c.var.store, hot: c.var.hot }, name, await rollback(c.var.store, name, version, { pin: true }), executionContextOf(c));
    return back(c, returnTo, "rolled-back", { dataset: name, version: change.current ?? version, ...(change.previous ? { previous: change.previous } : {}) });
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    const code: FlashCode = error.code === "conflict" ? "conflict" : error.code === "corrupt" ? "unreadable" : "not-retained";
    return back(c, returnTo, code, { dataset: name, version });
  }
}

async function datasetAction(c: PageContext): Promise<Response> {
  const name = c.req.param("name") ?? "";
  if (!isDatasetName(name)) throw new HTTPException(404, { message: "no such dataset" });
  const form = await c.req.parseBody();
  const returnTo: ReturnTo = form.back === "dataset" ? "dataset" : "overview";
  if (!(await isKnownDataset(c.var.store, name))) return back(c, "overview", "unknown-dataset", { dataset: name });
  const action = c.req.param("action");
  switch (action) {
    case "rebuild": {
      const { coalesced } = await createRebuildRequest(c.var.store, name, { force: false });
      return back(c, returnTo, coalesced ? "rebuild-pending" : "rebuild-requested", { dataset: name });
    }
    case "pin":
    case "unpin": {
      const change = await afterOperatorChange({ store: c.var.store, hot: c.var.hot }, name, await setPinned(c.var.store, name, action === "pin"), executionContextOf(c));
      return back(c, returnTo, change.pinned ? "pinned" : "unpinned", { dataset: name });
    }
    case "rollback":
      return rollbackAction(c, name, returnTo, typeof form.version === "string" ? form.version : "");
    default:
      throw new HTTPException(404, { message: `no action ${JSON.stringify(String(action).slice(0, 100))}` });
  }
}

/** The status page routes, mounted at /admin by the app. */
export function statusPageRoutes(): Hono<PageEnv> {
  const routes = new Hono<PageEnv>();
  routes.use("*", statusPageHeaders());
  routes.use("*", noStore());

  routes.get(ASSET_PATHS.script.slice("/admin".length), (c) => c.body(PAGE_SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" }));
  routes.get(ASSET_PATHS.style.slice("/admin".length), (c) => c.body(PAGE_CSS, 200, { "Content-Type": "text/css; charset=utf-8" }));

  // A view needs the whole session; a navigation gets the shell, which holds nothing.
  routes.get("/", async (c, next) => (wantsView(c) ? requireSession()(c, next) : next()), overview);
  routes.get("/datasets/:name", async (c, next) => (wantsView(c) ? requireSession()(c, next) : next()), datasetPage);

  // Sign-in has no session yet: the Origin check, the token itself and the limit on wrong tokens guard it.
  routes.post("/login", sameOriginOnly(), formBodyLimit(), signIn);

  routes.post("/logout", sameOriginOnly(), formBodyLimit(), requireSession(), async (c) => {
    await revokeSession(c.var.store, c.var.session.id, c.var.session.expiresAt);
    clearSessionCookie(c);
    return c.redirect("/admin", 303);
  });

  routes.post("/logout-everywhere", sameOriginOnly(), formBodyLimit(), requireSession(), async (c) => {
    await revokeAllSessions(c.var.store);
    clearSessionCookie(c);
    return c.redirect("/admin", 303);
  });

  routes.post("/datasets/:name/:action", sameOriginOnly(), formBodyLimit(), requireSession(), datasetAction);

  return routes;
}
