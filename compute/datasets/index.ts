/**
 * The dataset registry: the default export lists every dataset the scheduler runs. Add a module
 * beside these and list it here. Dataset modules import polars with `import type` only (the run
 * passes the module as ctx.pl), so loading this registry never loads polars.
 */
import type { DatasetDefinition } from "../dataset/define.ts";
import airportDelays from "./airport-delays.ts";
import busiestRoutes from "./busiest-routes.ts";
import dailyDelays from "./daily-delays.ts";

const datasets: DatasetDefinition[] = [airportDelays, busiestRoutes, dailyDelays];
export default datasets;
