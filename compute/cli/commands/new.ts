/**
 * `edgesnap new <name>`: writes a commented dataset module from a template that builds and
 * publishes as it is, beside the registry module (compute/examples/index.ts, or the one
 * EDGESNAP_DATASETS names), and lists it there. A bad name is refused with the rule; an existing
 * module or dataset is never overwritten.
 *
 * Crash-safe in this order: the module is created only if absent (O_EXCL), then the registry is
 * rewritten whole and renamed into place, so a reader never sees half a registry. Killed between
 * the two, the module exists unlisted, and running the command again says so.
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { defineCommand } from "citty";
import { loadConfig } from "../../config.ts";
import { loadRegistry } from "../../dataset/registry.ts";
import { EdgesnapError } from "../../errors.ts";
import { withGlobals, type CommandFactory } from "../context.ts";
import { addRegistryEntry, assertNewDatasetName, datasetTemplate } from "../new-dataset.ts";

/** The TypeScript parser, a development dependency: `edgesnap new` is a development command. */
async function loadTypeScript(): Promise<typeof import("typescript")> {
  try {
    return (await import("typescript")).default;
  } catch (error) {
    throw new EdgesnapError("config", "edgesnap new needs the development dependencies (run npm install in the project)", { cause: error });
  }
}

/** Where things are, relative to the working directory for the messages. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

/** What `new` did, for people and for `--json`. */
interface Created {
  dataset: string;
  module: string;
  registry: string;
}

/**
 * Creates the module and lists it.
 * @throws {EdgesnapError} "config" for a bad name, a dataset or module that exists, or a registry
 *   it cannot extend (nothing is written then)
 */
export async function createDataset(name: string, registryPath: string): Promise<Created> {
  assertNewDatasetName(name);
  const registry = path.resolve(registryPath);
  const dir = path.dirname(registry);
  const module = path.join(dir, `${name}.ts`);
  const entry = `./${name}.ts`;
  const { definitions, broken } = await loadRegistry(registryPath);
  if (definitions.some((d) => d.name === name) || broken.some((b) => b.name === name)) {
    throw new EdgesnapError("config", `a dataset named ${name} is already listed in ${shown(registry)}; nothing was written`);
  }
  const typescript = await loadTypeScript();
  const text = await readFile(registry, "utf8");
  // Checked before anything is written: a registry it cannot extend leaves no module behind.
  const updated = addRegistryEntry(typescript, text, entry, shown(registry));
  try {
    await writeFile(module, datasetTemplate(name, dir), { flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new EdgesnapError("config", `cannot write ${shown(module)}: ${(error as Error).message}`, { cause: error });
    throw new EdgesnapError("config", `${shown(module)} already exists and is not listed in ${shown(registry)}: list ${JSON.stringify(entry)} there, or remove the file; nothing was overwritten`);
  }
  const partial = `${registry}.${process.pid}.partial`;
  try {
    await writeFile(partial, updated);
    await rename(partial, registry);
  } catch (error) {
    await rm(partial, { force: true });
    throw new EdgesnapError("config", `wrote ${shown(module)} but cannot list it in ${shown(registry)}: ${(error as Error).message}`, { cause: error });
  }
  return { dataset: name, module: shown(module), registry: shown(registry) };
}

const newCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "new", description: "Write a commented dataset module from a template and list it in the registry" },
    args: {
      name: { type: "positional", description: "Dataset name: [a-z0-9][a-z0-9-]{0,63}", required: true },
      json: { type: "boolean", description: "Print what was written as JSON" },
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const created = await createDataset(args.name, loadConfig().datasets);
      if (args.json) {
        cli.io.stdout(`${JSON.stringify(created)}\n`);
        return;
      }
      cli.io.stdout(
        `created ${created.module} and listed it in ${created.registry}\n` +
          `next: npm run edgesnap -- preview ${created.dataset}   (what it builds; publishes nothing)\n` +
          `      npm run edgesnap -- run ${created.dataset}       (build and publish it now)\n`,
      );
    },
  });

export default newCommand;
