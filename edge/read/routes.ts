/**
 * Public reads under /v1: the catalog, current and versioned snapshot bodies, their pages, single
 * items, the other formats (`.csv`, `.ndjson`, `.parquet`) and row schemas. Read order: this location's edge cache, then KV hot copies of immutable objects,
 * then R2; the current version is always resolved from the R2 manifest. HEAD is served by the GET
 * routes (same headers, no body); a dataset whose manifest is unreadable answers 503 on its own
 * routes and leaves every other dataset alone.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { isDatasetName, isVersionId, itemKeyProblem } from "../../contract/names.ts";
import type { AppContext, AppEnv } from "../env.ts";
import { methodNotAllowed, quoted } from "../http/errors.ts";
import { isPageHash, pageNumber, serveBody, servePage, servePageByHash } from "./bodies.ts";
import { edgeCache } from "./cache.ts";
import { serveChanges, serveIndex } from "./changes.ts";
import { serveCatalog } from "./catalog.ts";
import { healthRoutes } from "./health.ts";
import { FORMAT_FILE_PARAM, serveFormat, splitFormat } from "./formats.ts";
import { serveItem } from "./items.ts";
import { serveSchema } from "./schema.ts";
import { requireCurrent, requireVersion } from "./versions.ts";

const READ_METHODS = "GET, HEAD";

function datasetParam(c: AppContext, name = c.req.param("name") ?? ""): string {
  if (!isDatasetName(name)) throw new HTTPException(400, { message: `malformed dataset name ${quoted(name)}` });
  return name;
}

function versionParam(c: AppContext, version = c.req.param("version") ?? ""): string {
  if (!isVersionId(version)) throw new HTTPException(400, { message: `malformed version id ${quoted(version)}` });
  return version;
}

function keyParam(c: AppContext): string {
  const key = c.req.param("key") ?? "";
  const problem = itemKeyProblem(key);
  if (problem !== null) throw new HTTPException(400, { message: `malformed item key: it ${problem}` });
  return key;
}

/** Runs `middleware` only for a page named by its hash. */
function byHashOnly(middleware: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async function byHashOnly(c, next) {
    return isPageHash(c.req.param("page")) ? middleware(c, next) : next();
  };
}

/** One read route: its path, whether this location's Cache API keeps its answers, and its handler. */
interface ReadRoute {
  path: string;
  cache?: MiddlewareHandler<AppEnv>;
  handle: (c: AppContext) => Promise<Response>;
}

/**
 * Every public read route, in matching order: each takes GET (and HEAD) and answers 405 with
 * `Allow: GET, HEAD` to anything else. Versioned URLs are kept by the Cache API where Workers Cache
 * is absent (edgeCache); current ones are purged by tag instead.
 */
function readRoutes(): ReadRoute[] {
  const current = (c: AppContext) => requireCurrent(c, datasetParam(c));
  const versioned = (c: AppContext, version = versionParam(c)) => requireVersion(c, datasetParam(c), version);
  return [
    { path: "/datasets", cache: edgeCache(), handle: async (c) => serveCatalog(c) },
    // Before /datasets/:name, which would take "airport-delays.csv" for a (malformed) name.
    {
      path: `/datasets/:file${FORMAT_FILE_PARAM}`,
      handle: async (c) => {
        const { stem, format } = splitFormat(c.req.param("file")!);
        return serveFormat(c, await requireCurrent(c, datasetParam(c, stem)), format, "current");
      },
    },
    {
      path: `/datasets/:name/versions/:file${FORMAT_FILE_PARAM}`,
      cache: edgeCache(),
      handle: async (c) => {
        const { stem, format } = splitFormat(c.req.param("file")!);
        return serveFormat(c, await versioned(c, versionParam(c, stem)), format, "versioned");
      },
    },
    { path: "/datasets/:name/schema", handle: async (c) => serveSchema(c, await current(c), "current") },
    // The columns are the version's, but the description is the dataset's present one, which a later
    // publish can change: cached like a current URL, not for a year.
    { path: "/datasets/:name/versions/:version/schema", cache: edgeCache(), handle: async (c) => serveSchema(c, await versioned(c), "current") },
    { path: "/datasets/:name/index", handle: async (c) => serveIndex(c, await current(c), "current") },
    { path: "/datasets/:name/versions/:version/index", cache: edgeCache(), handle: async (c) => serveIndex(c, await versioned(c), "versioned") },
    { path: "/datasets/:name/changes", handle: async (c) => serveChanges(c, datasetParam(c)) },
    { path: "/datasets/:name", cache: edgeCache(), handle: async (c) => serveBody(c, await current(c), "current") },
    { path: "/datasets/:name/versions/:version", cache: edgeCache(), handle: async (c) => serveBody(c, await versioned(c), "versioned") },
    // `:page` is a number (of the current version) or a sha256: a page named by its hash is immutable
    // and shared between versions, so it is cached like a versioned URL.
    {
      path: "/datasets/:name/pages/:page",
      cache: byHashOnly(edgeCache()),
      handle: async (c) => {
        const raw = c.req.param("page");
        if (isPageHash(raw)) return servePageByHash(c, datasetParam(c), raw!);
        return servePage(c, await current(c), pageNumber(raw), "current");
      },
    },
    { path: "/datasets/:name/versions/:version/pages/:page", cache: edgeCache(), handle: async (c) => servePage(c, await versioned(c), pageNumber(c.req.param("page")), "versioned") },
    { path: "/datasets/:name/items/:key", handle: async (c) => serveItem(c, await current(c), keyParam(c), "current") },
    { path: "/datasets/:name/versions/:version/items/:key", cache: edgeCache(), handle: async (c) => serveItem(c, await versioned(c), keyParam(c), "versioned") },
  ];
}

/** The public read routes, mounted at /v1 by the app. */
export function publicRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.route("/health", healthRoutes());
  for (const route of readRoutes()) {
    if (route.cache) routes.get(route.path, route.cache, route.handle);
    else routes.get(route.path, route.handle);
    routes.all(route.path, methodNotAllowed(READ_METHODS));
  }
  return routes;
}
