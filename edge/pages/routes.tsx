/** @jsxImportSource hono/jsx */
/**
 * The status page at /admin: server-rendered, never cached. Signing in posts the token once; the
 * Worker checks it in constant time and sets an HttpOnly, SameSite=Strict session cookie derived
 * from it (edge/http/auth.ts), so page script never sees the token. The buttons are plain forms
 * posting to /admin/datasets/...; a cross-site form post carries no SameSite=Strict cookie, and a
 * foreign Origin header is refused as well.
 */
import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { isDatasetName, VERSION_ID_PATTERN } from "../../contract/index.ts";
import { ProtocolError } from "../../contract/protocol/errors.ts";
import { rollback, setPinned } from "../../contract/protocol/manifests.ts";
import { createRebuildRequest } from "../../contract/protocol/requests.ts";
import { afterOperatorChange } from "../admin/routes.ts";
import { describeDatasets, isKnownDataset } from "../admin/overview.ts";
import type { AppContext, AppEnv } from "../env.ts";
import { configuredToken, hasValidSession, noStore, SESSION_COOKIE, sessionValueFor } from "../http/auth.ts";
import { tokensEqual } from "../http/bearer.ts";
import { LoginPage, StatusPage } from "./components.tsx";

type PageContext = AppContext;

/** Runs shown per dataset on the page. */
const RUNS_ON_PAGE = 20;
/** While a rebuild is pending or running, the page reloads itself this often. */
const REFRESH_WHILE_BUSY_S = 2;

function sameOrigin(c: PageContext): boolean {
  const origin = c.req.header("Origin");
  return origin === undefined || origin === "null" || origin === new URL(c.req.url).origin;
}

function back(c: PageContext, message: string, dataset?: string): Response {
  return c.redirect(`/admin?msg=${encodeURIComponent(message)}${dataset ? `#ds-${dataset}` : ""}`, 303);
}

/** The status page routes, mounted at /admin by the app. */
export function statusPageRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("*", noStore());

  routes.get("/", async (c) => {
    if (!(await hasValidSession(c))) return c.html(<LoginPage />);
    // One read of each dataset's runs serves both its row (the last run) and its section.
    const { rows } = await describeDatasets(c.var.store, { runs: RUNS_ON_PAGE });
    const withRuns = rows.map((row) => ({ dataset: row.dataset, runs: row.runs }));
    const busy = rows.some((row) => row.dataset.pending_request !== null);
    const flash = c.req.query("msg") ?? undefined;
    return c.html(<StatusPage datasets={withRuns} flash={flash} refreshSeconds={busy ? REFRESH_WHILE_BUSY_S : undefined} />);
  });

  routes.post("/login", async (c) => {
    if (!sameOrigin(c)) throw new HTTPException(403, { message: "cross-origin sign-in refused" });
    const expected = configuredToken(c.env);
    const form = await c.req.parseBody();
    const presented = typeof form.token === "string" ? form.token : "";
    if (presented === "" || !(await tokensEqual(presented, expected))) {
      return c.html(<LoginPage error="That token is not right." />, 401);
    }
    setCookie(c, SESSION_COOKIE, await sessionValueFor(expected), {
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
      path: "/admin",
    });
    return c.redirect("/admin", 303);
  });

  routes.post("/logout", (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: "/admin" });
    return c.redirect("/admin", 303);
  });

  routes.post("/datasets/:name/:action", async (c) => {
    if (!sameOrigin(c)) throw new HTTPException(403, { message: "cross-origin request refused" });
    if (!(await hasValidSession(c))) return c.redirect("/admin", 303);
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
        const change = await afterOperatorChange({ store: c.var.store, hot: c.var.hot }, name, await setPinned(c.var.store, name, action === "pin"));
        return back(c, `${name}: ${change.pinned ? "pinned" : "unpinned"}`, name);
      }
      case "rollback": {
        const form = await c.req.parseBody();
        const version = typeof form.version === "string" ? form.version : "";
        if (!VERSION_ID_PATTERN.test(version)) return back(c, "choose a version to roll back to", name);
        try {
          const change = await afterOperatorChange({ store: c.var.store, hot: c.var.hot }, name, await rollback(c.var.store, name, version, { pin: true }));
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
