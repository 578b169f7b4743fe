/** @jsxImportSource hono/jsx */
/**
 * The status page at /admin: server-rendered, never cached. Signing in posts the token once; the
 * Worker checks it in constant time and sets an HttpOnly, SameSite=Strict session cookie signed
 * with it that expires after ADMIN_SESSION_HOURS (edge/http/auth.ts), so page script never sees
 * the token. The buttons are plain forms posting to /admin/datasets/...; every post must come from
 * the page's own origin and every post that acts must carry the session's CSRF token
 * (edge/status-page/form-guard.ts).
 */
import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { isDatasetName, VERSION_ID_PATTERN, type AdminDataset, type Alert, type RunRecord } from "../../contract/index.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { rollback, setPinned } from "../../contract/protocol/manifests.ts";
import { createRebuildRequest } from "../../contract/protocol/requests.ts";
import type { ObjectStore } from "../../contract/storage.ts";
import { afterOperatorChange } from "../admin/routes.ts";
import { describeDatasets, isKnownDataset } from "../admin/overview.ts";
import type { AppContext, AppEnv } from "../env.ts";
import { executionContextOf } from "../read/cache.ts";
import { configuredToken, createSessionValue, csrfTokenFor, noStore, readSession, SESSION_COOKIE, sessionLifetimeSeconds } from "../http/auth.ts";
import { tokensEqual } from "../http/bearer.ts";
import { clientKey, countFailure, refusedFor } from "../http/rate-limit.ts";
import { LoginPage, StatusPage } from "./components.tsx";
import { formBodyLimit, requireSessionForm, sameOriginOnly } from "./form-guard.ts";

type PageContext = AppContext;

/** Runs shown per dataset on the page. */
const RUNS_ON_PAGE = 20;
/**
 * While a rebuild is pending or running, the page reloads itself this often. Each load reads every
 * dataset's manifest, request and shown runs from R2, so an open tab must not poll faster.
 */
const REFRESH_WHILE_BUSY_S = 5;

/** The sign-in form again, 429 with Retry-After, for an address past its limit of wrong tokens. */
function signInRefused(c: PageContext, seconds: number): Response | Promise<Response> {
  c.header("Retry-After", String(seconds));
  return c.html(<LoginPage error={`Too many wrong tokens from this address: try again in ${seconds} s.`} />, 429);
}

function back(c: PageContext, message: string, dataset?: string): Response {
  return c.redirect(`/admin?msg=${encodeURIComponent(message)}${dataset ? `#ds-${dataset}` : ""}`, 303);
}

/**
 * Every known dataset with its newest runs. Each dataset's runs are listed once: the overview's
 * last_run is the newest of the same listing.
 */
async function readStatus(store: ObjectStore, now = new Date()): Promise<{ rows: { dataset: AdminDataset; runs: RunRecord[] }[]; schedulerAlert: Alert | null }> {
  const { rows, schedulerAlert } = await describeDatasets(store, { runs: RUNS_ON_PAGE, now });
  return { rows: rows.map((row) => ({ dataset: row.dataset, runs: row.runs })), schedulerAlert };
}

/** The status page routes, mounted at /admin by the app. */
export function statusPageRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("*", noStore());

  routes.get("/", async (c) => {
    const session = await readSession(c);
    if (session === null) return c.html(<LoginPage />);
    const [{ rows, schedulerAlert }, csrf] = await Promise.all([readStatus(c.var.store), csrfTokenFor(configuredToken(c.env), session)]);
    const busy = rows.some(({ dataset }) => dataset.pending_request !== null);
    const flash = c.req.query("msg") ?? undefined;
    return c.html(<StatusPage datasets={rows} csrf={csrf} flash={flash} refreshSeconds={busy ? REFRESH_WHILE_BUSY_S : undefined} schedulerAlert={schedulerAlert} />);
  });

  // Sign-in has no session yet, so no CSRF token: the Origin check, the token itself and the limit
  // on wrong tokens per address (edge/http/rate-limit.ts) guard it.
  routes.post("/login", sameOriginOnly(), formBodyLimit(), async (c) => {
    const expected = configuredToken(c.env);
    const lifetime = sessionLifetimeSeconds(c.env);
    const client = clientKey(c, "sign-in");
    if (refusedFor(client) > 0) return signInRefused(c, refusedFor(client));
    const form = await c.req.parseBody();
    const presented = typeof form.token === "string" ? form.token : "";
    if (presented === "" || !(await tokensEqual(presented, expected))) {
      if (presented !== "" && !(await countFailure(c.env, client))) return signInRefused(c, refusedFor(client));
      return c.html(<LoginPage error="That token is not right." />, 401);
    }
    setCookie(c, SESSION_COOKIE, await createSessionValue(expected), {
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
      path: "/admin",
      maxAge: lifetime,
    });
    return c.redirect("/admin", 303);
  });

  routes.post("/logout", sameOriginOnly(), formBodyLimit(), requireSessionForm(), (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: "/admin" });
    return c.redirect("/admin", 303);
  });

  routes.post("/datasets/:name/:action", sameOriginOnly(), formBodyLimit(), requireSessionForm(), async (c) => {
    const name = c.req.param("name");
    if (!isDatasetName(name) || !(await isKnownDataset(c.var.store, name))) return back(c, `unknown dataset ${name.slice(0, 100)}`);
    const action = c.req.param("action");
    switch (action) {
      case "rebuild": {
        const { request, coalesced } = await createRebuildRequest(c.var.store, name, { force: false });
        return back(c, `${name}: rebuild ${coalesced ? "already pending" : "requested"} (${request.id})`, name);
      }
      case "pin":
      case "unpin": {
        const change = await afterOperatorChange({ store: c.var.store, hot: c.var.hot }, name, await setPinned(c.var.store, name, action === "pin"), executionContextOf(c));
        return back(c, `${name}: ${change.pinned ? "pinned" : "unpinned"}`, name);
      }
      case "rollback": {
        const form = await c.req.parseBody();
        const version = typeof form.version === "string" ? form.version : "";
        if (!VERSION_ID_PATTERN.test(version)) return back(c, "choose a version to roll back to", name);
        try {
          const change = await afterOperatorChange({ store: c.var.store, hot: c.var.hot }, name, await rollback(c.var.store, name, version, { pin: true }), executionContextOf(c));
          return back(c, `${name}: now serving ${change.current} (was ${change.previous ?? "-"}), pinned`, name);
        } catch (error) {
          if (error instanceof ProtocolError) return back(c, error.message, name);
          throw error;
        }
      }
      default:
        throw new HTTPException(404, { message: `no action ${action}` });
    }
  });

  return routes;
}
