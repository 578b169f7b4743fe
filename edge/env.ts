/**
 * What every handler of the Worker sees: the bindings (typed once by `wrangler types`) and the two
 * storage drivers built from them, so handlers never touch a binding themselves.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { ObjectStore } from "../contract/storage.ts";
import { openHotCopies, type HotCopies } from "./storage/kv.ts";
import { openR2Store } from "./storage/r2.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    store: ObjectStore;
    hot: HotCopies;
  };
}

export type AppContext = Context<AppEnv>;

/** The drivers of one request (or cron run): cheap to make, nothing to close. */
export interface EdgeStorage {
  store: ObjectStore;
  hot: HotCopies;
}

export function openEdgeStorage(env: Env): EdgeStorage {
  return { store: openR2Store(env), hot: openHotCopies(env) };
}

/** Puts the storage drivers on the context for the handlers. */
export function withStorage(): MiddlewareHandler<AppEnv> {
  return async function withStorage(c, next) {
    const { store, hot } = openEdgeStorage(c.env);
    c.set("store", store);
    c.set("hot", hot);
    await next();
  };
}
