/**
 * The Worker's Hono app: public reads under /v1 and their OpenAPI document (with CORS), the internal publish notice and the
 * local storage API under /internal/v1, the admin API and status page under /admin, a health check,
 * and one error handler for all of them.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { adminApiRoutes } from "./admin/routes.ts";
import { withStorage, type AppEnv } from "./env.ts";
import { handleError, handleNotFound, methodNotAllowed } from "./http/errors.ts";
import { noticeRoutes } from "./internal/notice.ts";
import { storageApiRoutes } from "./internal/storage-api.ts";
import { statusPageRoutes } from "./status-page/routes.tsx";
import { publicCaching } from "./read/cache.ts";
import { serveOpenApi } from "./read/openapi.ts";
import { publicRoutes } from "./read/routes.ts";

/** Headers a browser script may read from a snapshot response. */
const EXPOSED_HEADERS = ["ETag", "X-Edgesnap-Version", "Last-Modified", "Link", "Content-Disposition", "Accept-Ranges", "Content-Range", "Content-Length", "Content-Encoding"];

/**
 * Resolves the allowed origin from CORS_ORIGINS: "*" (the default) allows any origin, otherwise a
 * comma-separated list of exact origins; others get no Access-Control-Allow-Origin header.
 */
export function allowedOrigin(configured: string | undefined, origin: string): string | null {
  const value = (configured ?? "*").trim();
  if (value === "" || value === "*") return "*";
  const origins = value.split(",").map((o) => o.trim()).filter((o) => o !== "");
  return origins.includes(origin) ? origin : null;
}

/** Builds the app. */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const publicCors = cors({
    origin: (origin, c) => allowedOrigin((c.env as Env).CORS_ORIGINS, origin),
    allowMethods: ["GET", "HEAD", "OPTIONS"],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 86_400,
  });
  app.use("/v1/*", publicCors);
  app.use("/openapi.json", publicCors);
  app.use("*", withStorage());
  app.use("/v1/*", publicCaching());
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.all("/healthz", methodNotAllowed("GET, HEAD"));
  app.get("/openapi.json", (c) => serveOpenApi(c));
  app.all("/openapi.json", methodNotAllowed("GET, HEAD"));
  app.route("/v1", publicRoutes());
  app.route("/internal/v1/storage", storageApiRoutes());
  app.route("/internal/v1", noticeRoutes());
  app.route("/admin/v1", adminApiRoutes());
  app.route("/admin", statusPageRoutes());
  app.notFound(handleNotFound);
  app.onError(handleError);
  return app;
}
