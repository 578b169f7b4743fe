/**
 * The scheduler's metrics in the Prometheus text exposition format, kept by hand (a few counters,
 * gauges and one histogram do not need a client library; the tests check the output with
 * `promtool check metrics`).
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
import { confirmsContent, type RunRecord } from "../../contract/run-record.ts";

/** Upper bounds (seconds) of the run duration histogram: sub-second builds up to the 90 s default timeout. */
export const DURATION_BUCKETS_SECONDS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 90, 180, 600] as const;

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class SchedulerMetrics {
  readonly #runs = new Map<string, number>();
  readonly #durations = new Map<string, Histogram>();
  readonly #peakRss = new Map<string, number>();
  readonly #memoryKills = new Map<string, number>();
  readonly #bytesPublished = new Map<string, number>();
  readonly #lastSuccess = new Map<string, number>();
  readonly #coalesced = new Map<string, number>();
  readonly #retries = new Map<string, number>();
  readonly #skipped = new Map<string, number>();
  readonly #startedAt = Date.now() / 1000;

  /** Counts a finished run under every metric it touches. */
  recordRun(record: RunRecord): void {
    const { dataset, outcome } = record;
    increment(this.#runs, `${dataset}\u0000${outcome}`);
    const histogram = this.#durations.get(dataset) ?? { counts: DURATION_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 };
    const seconds = record.duration_ms / 1000;
    DURATION_BUCKETS_SECONDS.forEach((bound, i) => {
      if (seconds <= bound) histogram.counts[i]!++;
    });
    histogram.sum += seconds;
    histogram.count++;
    this.#durations.set(dataset, histogram);
    if (record.peak_rss_bytes !== null) this.#peakRss.set(dataset, record.peak_rss_bytes);
    if (outcome === "memory-killed") increment(this.#memoryKills, dataset);
    else if (!this.#memoryKills.has(dataset)) this.#memoryKills.set(dataset, 0);
    if (outcome === "ok") increment(this.#bytesPublished, dataset, record.bytes ?? 0);
    // An unchanged run confirmed the served content as much as a publish did: both are a success
    // for an alert on "no success for too long".
    if (confirmsContent(outcome)) this.#lastSuccess.set(dataset, Date.parse(record.finished_at) / 1000);
  }

  recordCoalesced(dataset: string): void {
    increment(this.#coalesced, dataset);
  }

  recordRetry(dataset: string): void {
    increment(this.#retries, dataset);
  }

  /** A trigger this scheduler left to another (the dataset's lease was held, or its slot ran). */
  recordSkipped(dataset: string): void {
    increment(this.#skipped, dataset);
  }

  /** The whole exposition. `gauges` are read at scrape time (running runs, temp-root bytes). */
  render(gauges: { running: number; waiting: number; tempRootBytes: number; degraded?: boolean; consecutiveFailures?: [string, number][] }): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family("edgesnap_runs_total", "counter", "Finished runs by dataset and outcome.");
    for (const [key, value] of this.#runs) {
      const [dataset, outcome] = key.split("\u0000") as [string, string];
      out.push(`edgesnap_runs_total{dataset="${escapeLabel(dataset)}",outcome="${escapeLabel(outcome)}"} ${value}`);
    }
    family("edgesnap_run_duration_seconds", "histogram", "Run duration from spawn to exit.");
    for (const [dataset, h] of this.#durations) {
      const label = `dataset="${escapeLabel(dataset)}"`;
      DURATION_BUCKETS_SECONDS.forEach((bound, i) => out.push(`edgesnap_run_duration_seconds_bucket{${label},le="${bound}"} ${h.counts[i]}`));
      out.push(`edgesnap_run_duration_seconds_bucket{${label},le="+Inf"} ${h.count}`);
      out.push(`edgesnap_run_duration_seconds_sum{${label}} ${h.sum}`);
      out.push(`edgesnap_run_duration_seconds_count{${label}} ${h.count}`);
    }
    this.#perDataset(out, family, "edgesnap_run_peak_rss_bytes", "gauge", "Peak resident memory of the last run (child and descendants).", this.#peakRss);
    this.#perDataset(out, family, "edgesnap_memory_kills_total", "counter", "Runs killed for exceeding their memory ceiling.", this.#memoryKills);
    this.#perDataset(out, family, "edgesnap_published_bytes_total", "counter", "Bytes of snapshots published by ok runs.", this.#bytesPublished);
    this.#perDataset(out, family, "edgesnap_last_success_timestamp_seconds", "gauge", "Unix time of the last run that published or found the content unchanged.", this.#lastSuccess);
    this.#perDataset(out, family, "edgesnap_triggers_coalesced_total", "counter", "Triggers folded into an already pending run.", this.#coalesced);
    this.#perDataset(out, family, "edgesnap_retries_total", "counter", "Retries scheduled after a failed run.", this.#retries);
    this.#perDataset(out, family, "edgesnap_triggers_skipped_total", "counter", "Triggers left to another scheduler (the dataset's lease was held, or its cron slot already ran).", this.#skipped);

    family("edgesnap_consecutive_failures", "gauge", "Failed runs of the dataset in a row, across triggers (0 after a run that confirmed the content).");
    for (const [dataset, failures] of gauges.consecutiveFailures ?? []) out.push(`edgesnap_consecutive_failures{dataset="${escapeLabel(dataset)}"} ${failures}`);
    family("edgesnap_scheduler_degraded", "gauge", "1 while every dataset that has run failed its last run (/healthz answers 503), else 0.");
    out.push(`edgesnap_scheduler_degraded ${gauges.degraded ? 1 : 0}`);
    family("edgesnap_runs_running", "gauge", "Runs executing now.");
    out.push(`edgesnap_runs_running ${gauges.running}`);
    family("edgesnap_runs_waiting", "gauge", "Runs waiting for a concurrency slot.");
    out.push(`edgesnap_runs_waiting ${gauges.waiting}`);
    family("edgesnap_temp_root_bytes", "gauge", "Bytes on disk under the scheduler's temp root.");
    out.push(`edgesnap_temp_root_bytes ${gauges.tempRootBytes}`);
    family("process_resident_memory_bytes", "gauge", "Resident memory of the scheduler process.");
    out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    family("process_start_time_seconds", "gauge", "Start time of the scheduler (Unix seconds).");
    out.push(`process_start_time_seconds ${this.#startedAt}`);
    return `${out.join("\n")}\n`;
  }

  #perDataset(
    out: string[],
    family: (name: string, type: string, help: string) => void,
    name: string,
    type: string,
    help: string,
    values: Map<string, number>,
  ): void {
    family(name, type, help);
    for (const [dataset, value] of values) out.push(`${name}{dataset="${escapeLabel(dataset)}"} ${value}`);
  }
}

function increment(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
