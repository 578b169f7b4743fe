/**
 * The dataset registry: lists the module of every dataset the scheduler runs, relative to this
 * file. Add a module beside these (named after its dataset, so a module that fails to load is
 * reported under its dataset's name) and list it here. Each module is imported on its own, so one
 * that fails stops only its own dataset. Dataset modules import polars with `import type` only
 * (the run passes the module as ctx.pl), so loading the registry never loads polars.
 */
const datasets: string[] = ["./airport-delays.ts", "./busiest-routes.ts", "./daily-delays.ts"];
export default datasets;
