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

/** The public read routes, mounted at /v1 by the app. */
export function publicRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.route("/health", healthRoutes());
  routes.get("/datasets", edgeCache(), (c) => serveCatalog(c));

  // Before /datasets/:name, which would take "airport-delays.csv" for a (malformed) name.
  routes.get(`/datasets/:file${FORMAT_FILE_PARAM}`, async (c) => {
    const { stem, format } = splitFormat(c.req.param("file"));
    const dataset = datasetParam(c, stem);
    return serveFormat(c, await requireCurrent(c, dataset), format, "current");
  });

  routes.get(`/datasets/:name/versions/:file${FORMAT_FILE_PARAM}`, edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    const { stem, format } = splitFormat(c.req.param("file"));
    return serveFormat(c, await requireVersion(c, dataset, versionParam(c, stem)), format, "versioned");
  });

  routes.get("/datasets/:name/schema", async (c) => {
    return serveSchema(c, await requireCurrent(c, datasetParam(c)), "current");
  });

  routes.get("/datasets/:name/versions/:version/schema", edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    // The columns are the version's, but the description is the dataset's present one, which a later
    // publish can change: cached like a current URL, not for a year.
    return serveSchema(c, await requireVersion(c, dataset, versionParam(c)), "current");
  });

  routes.get("/datasets/:name/index", async (c) => serveIndex(c, await requireCurrent(c, datasetParam(c)), "current"));

  routes.get("/datasets/:name/versions/:version/index", edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    return serveIndex(c, await requireVersion(c, dataset, versionParam(c)), "versioned");
  });

  routes.get("/datasets/:name/changes", async (c) => serveChanges(c, datasetParam(c)));

  routes.get("/datasets/:name", edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    return serveBody(c, await requireCurrent(c, dataset), "current");
  });

  routes.get("/datasets/:name/versions/:version", edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    return serveBody(c, await requireVersion(c, dataset, versionParam(c)), "versioned");
  });

  // `:page` is a number (of the current version) or a sha256: a page named by its hash is immutable
  // and shared between versions, so it is cached like a versioned URL.
  routes.get("/datasets/:name/pages/:page", byHashOnly(edgeCache()), async (c) => {
    const dataset = datasetParam(c);
    const raw = c.req.param("page");
    if (isPageHash(raw)) return servePageByHash(c, dataset, raw);
    return servePage(c, await requireCurrent(c, dataset), pageNumber(raw), "current");
  });

  routes.get("/datasets/:name/versions/:version/pages/:page", edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    const page = pageNumber(c.req.param("page"));
    return servePage(c, await requireVersion(c, dataset, versionParam(c)), page, "versioned");
  });

  routes.get("/datasets/:name/items/:key", async (c) => {
    const dataset = datasetParam(c);
    const key = keyParam(c);
    return serveItem(c, await requireCurrent(c, dataset), key, "current");
  });

  routes.get("/datasets/:name/versions/:version/items/:key", edgeCache(), async (c) => {
    const dataset = datasetParam(c);
    const version = versionParam(c);
    const key = keyParam(c);
    return serveItem(c, await requireVersion(c, dataset, version), key, "versioned");
  });

  for (const path of [
    "/datasets",
    "/datasets/:name",
    "/datasets/:name/versions/:version",
    "/datasets/:name/pages/:page",
    "/datasets/:name/versions/:version/pages/:page",
    "/datasets/:name/items/:key",
    "/datasets/:name/versions/:version/items/:key",
    "/datasets/:name/schema",
    "/datasets/:name/versions/:version/schema",
    "/datasets/:name/index",
    "/datasets/:name/versions/:version/index",
    "/datasets/:name/changes",
  ]) {
    routes.all(path, methodNotAllowed(READ_METHODS));
  }
  return routes;
}
