/**
 * The anti-pattern the scheduler replaces: one long-lived process running the same build again and again. Prints
 * one JSON line per iteration with its RSS. `--mode timer` waits on a timer between builds like a
 * service's scheduler does; `--mode sync` never returns to the event loop (the worst case). Stops
 * early above `--max-rss-mb` so it cannot take the machine down.
 */
import { parseArgs } from "node:util";
import pl from "nodejs-polars";
import { buildDelaysByOrigin } from "./build.ts";

const { values } = parseArgs({
  options: {
    iterations: { type: "string", default: "200" },
    "interval-ms": { type: "string", default: "100" },
    mode: { type: "string", default: "timer" },
    "max-rss-mb": { type: "string", default: "6144" },
  },
});
const iterations = Number(values.iterations);
const intervalMs = Number(values["interval-ms"]);
const maxRss = Number(values["max-rss-mb"]) * 1024 * 1024;
const emit = (fields: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ t: Date.now(), rss: process.memoryUsage.rss(), ...fields })}\n`);

emit({ i: 0 });
for (let i = 1; i <= iterations; i++) {
  buildDelaysByOrigin(pl);
  if (values.mode !== "sync") await new Promise((resolve) => setTimeout(resolve, intervalMs));
  emit({ i });
  if (process.memoryUsage.rss() > maxRss) {
    emit({ i, stopped: `RSS above ${values["max-rss-mb"]} MB` });
    break;
  }
}
