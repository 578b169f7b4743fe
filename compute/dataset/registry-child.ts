/**
 * The registry's probe child: `node registry-child.ts <registry> <from>` imports the registry module
 * and then each listed module from index `from` on, one at a time, telling its parent on fd 3 (JSON
 * lines; stdout is left to whatever the modules print) when it starts and finishes each, so the
 * parent (registry.ts) can time each module and kill this process when one never finishes. It only
 * reads definitions: it never builds anything and never loads polars.
 */
import { writeSync } from "node:fs";
import { importDatasetModule, readRegistryEntries, summarize, type ProbeMessage } from "./registry.ts";

const CHANNEL_FD = 3;

function tell(message: ProbeMessage): void {
  writeSync(CHANNEL_FD, `${JSON.stringify(message)}\n`);
}

const [registry = "", fromText = "0"] = process.argv.slice(2);
const from = Number(fromText);
// The parent enforces the time limits; here a module may take as long as it takes.
const NO_LIMIT_MS = 2 ** 31 - 1;
try {
  const entries = await readRegistryEntries(registry, NO_LIMIT_MS);
  tell({
    type: "registry",
    modules: entries.map((entry) => (entry.kind === "module" ? entry.file : null)),
    inline: entries.flatMap((entry) => (entry.kind === "inline" ? [summarize(entry.definition, null)] : [])),
  });
  for (const [index, entry] of entries.entries()) {
    if (index < from || entry.kind !== "module") continue;
    tell({ type: "loading", index });
    const result = await importDatasetModule(entry.file, NO_LIMIT_MS);
    if (Array.isArray(result)) tell({ type: "loaded", index, datasets: result.map((definition) => summarize(definition, entry.file)) });
    else tell({ type: "broken", index, module: result });
  }
  tell({ type: "done" });
} catch (error) {
  tell({ type: "fatal", message: (error as Error).message });
}
// Exit explicitly: a module may have left a timer or a socket open.
process.exit(0);
