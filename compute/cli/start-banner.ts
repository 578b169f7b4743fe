/**
 * The banner `npm start` prints on a terminal once everything is up: where the Worker and its
 * status page are, where the token to sign in is, and what runs when. Pure.
 */
import path from "node:path";

export interface ReadyFacts {
  /** The local Worker, e.g. http://127.0.0.1:8787. */
  url: string;
  /** The file holding this start's admin token, or null when EDGESNAP_TOKEN set it. */
  tokenFile: string | null;
  /** The scheduler's /metrics, if it listens. */
  metricsUrl: string | null;
  datasets: readonly { name: string; schedule: string }[];
  /** Datasets whose module failed to load: named, so nobody waits for them. */
  unloadable: readonly { name: string }[];
  timezone: string;
}

/** A path as a person in the working directory would type it. */
function shownPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

/** The ready banner, a few aligned lines ending with a newline. */
export function formatReadyBanner(facts: ReadyFacts): string {
  const width = Math.max(0, ...facts.datasets.map((d) => d.name.length), ...facts.unloadable.map((d) => d.name.length));
  const datasets = facts.datasets.map((d) => `${d.name.padEnd(width)}  ${d.schedule}`);
  for (const broken of facts.unloadable) datasets.push(`${broken.name.padEnd(width)}  not loaded: see the error above`);
  const token = facts.tokenFile === null ? "EDGESNAP_TOKEN (yours)" : `${shownPath(facts.tokenFile)}   (cat it to sign in)`;
  const first = facts.datasets[0]?.name;
  const rows: [string, string][] = [
    ["Worker", `${facts.url}${first ? `   (curl ${facts.url}/v1/datasets/${first})` : ""}`],
    ["status page", `${facts.url}/admin`],
    ["token", token],
    ...(facts.metricsUrl ? ([["metrics", facts.metricsUrl]] as [string, string][]) : []),
    ["datasets", datasets[0] ?? "none"],
    ...datasets.slice(1).map((line): [string, string] => ["", line]),
  ];
  const lines = rows.map(([label, value]) => `  ${label.padEnd(13)}${value}`);
  const zone = facts.timezone === "UTC" ? "UTC" : facts.timezone;
  return `edgesnap is ready (schedules in ${zone}; Ctrl-C stops everything)\n${lines.join("\n")}\n`;
}
