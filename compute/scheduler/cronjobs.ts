/**
 * The other way to run many datasets: one Kubernetes CronJob per dataset instead of a scheduler,
 * generated from the definitions (`edgesnap kubernetes cronjobs`) so the manifests never drift from
 * them. Kubernetes does the scheduling; each run is a pod running `edgesnap run <dataset>`, which
 * enforces the dataset's timeout and memory ceiling itself, as the scheduler would. Pure: the
 * definitions in, YAML text out.
 *
 * From each definition: the schedule (Kubernetes cron has no seconds field: a seconds schedule is
 * refused), `concurrencyPolicy: Forbid` (never two runs of one dataset), `activeDeadlineSeconds`
 * from the timeout (plus the kill grace and a start-up margin: the run is stopped by its own
 * timeout first), the pod's memory limit from `limits.memoryBytes` (plus the `edgesnap run`
 * process around the run child), `backoffLimit` from the scheduler's retries.
 * https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
 */
import { createHash } from "node:crypto";
import { Cron } from "croner";
import { EdgesnapError } from "../errors.ts";
import { DEFAULT_RETRIES } from "./index.ts";
import { DEFAULT_KILL_GRACE_MS } from "./supervise.ts";

/** What a CronJob needs of a dataset. */
export interface CronJobDataset {
  name: string;
  schedule: string;
  limits: { timeoutMs: number; memoryBytes: number };
}

export interface CronJobOptions {
  /** The compute image. */
  image: string;
  /** The cron schedules' time zone (EDGESNAP_TIMEZONE). */
  timezone: string;
  /** The Secret with the S3 and edge settings (deploy/kubernetes/secret.example.yaml). */
  secretName?: string;
}

export const DEFAULT_IMAGE = "ghcr.io/example/edgesnap-compute:0.1.0";
/** Node's start, the registry's probe and the store's first answers, before the run's own timeout counts. */
export const START_MARGIN_SECONDS = 30;
/** The `edgesnap run` process around the run child (Node, the supervisor, the registry's probe child). */
export const RUN_PROCESS_BYTES = 256 * 1024 * 1024;
/** Kubernetes' longest CronJob name: 52 characters (its Jobs get an 11-character suffix). */
const MAX_NAME = 52;

const MIB = 1024 * 1024;

/** The CronJob's name: `edgesnap-<dataset>`, shortened with a hash when too long for Kubernetes. */
export function cronJobName(dataset: string): string {
  const name = `edgesnap-${dataset}`;
  if (name.length <= MAX_NAME) return name;
  const hash = createHash("sha256").update(dataset).digest("hex").slice(0, 8);
  return `${name.slice(0, MAX_NAME - 9).replace(/-+$/, "")}-${hash}`;
}

/** Seconds between the schedule's runs (the shortest gap of the next few). */
function periodSeconds(schedule: string, timezone: string): number {
  const runs = new Cron(schedule, { timezone, paused: true }).nextRuns(24);
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < runs.length; i++) shortest = Math.min(shortest, (runs[i]!.getTime() - runs[i - 1]!.getTime()) / 1000);
  return shortest;
}

/** The numbers a dataset's CronJob gets, pure. @throws {EdgesnapError} "config" for a seconds schedule */
export function cronJobFigures(dataset: CronJobDataset, timezone: string) {
  if (dataset.schedule.trim().split(/\s+/).length !== 5) {
    throw new EdgesnapError("config", `dataset ${dataset.name}: schedule "${dataset.schedule}" has a seconds field, which Kubernetes CronJobs do not; run it with the scheduler Deployment instead`);
  }
  const period = periodSeconds(dataset.schedule, timezone);
  const memoryMiB = Math.ceil((dataset.limits.memoryBytes + RUN_PROCESS_BYTES) / MIB);
  return {
    activeDeadlineSeconds: Math.ceil(dataset.limits.timeoutMs / 1000) + Math.ceil(DEFAULT_KILL_GRACE_MS / 1000) + START_MARGIN_SECONDS,
    // A start missed by more than half a period is skipped: the next one is nearer.
    startingDeadlineSeconds: Math.max(10, Math.min(120, Math.floor(period / 2))),
    backoffLimit: DEFAULT_RETRIES,
    memory: `${memoryMiB}Mi`,
  };
}

/** One dataset's CronJob as YAML lines (strings are JSON-quoted: valid YAML, whatever they hold). */
function cronJobYaml(dataset: CronJobDataset, options: CronJobOptions): string[] {
  const figures = cronJobFigures(dataset, options.timezone);
  const q = (text: string) => JSON.stringify(text);
  const labels = (indent: string) => [
    `${indent}app.kubernetes.io/name: edgesnap`,
    `${indent}app.kubernetes.io/component: run`,
    `${indent}edgesnap.dev/dataset: ${q(dataset.name)}`,
  ];
  return [
    "apiVersion: batch/v1",
    "kind: CronJob",
    "metadata:",
    `  name: ${q(cronJobName(dataset.name))}`,
    "  labels:",
    ...labels("    "),
    "spec:",
    `  schedule: ${q(dataset.schedule)}`,
    `  timeZone: ${q(options.timezone === "UTC" ? "Etc/UTC" : options.timezone)}`,
    "  # A run still going when the next is due: the new one is skipped (never two builds of one dataset).",
    "  concurrencyPolicy: Forbid",
    "  # A start missed by more than half a period is skipped: the next one comes sooner.",
    `  startingDeadlineSeconds: ${figures.startingDeadlineSeconds}`,
    "  successfulJobsHistoryLimit: 3",
    "  failedJobsHistoryLimit: 3",
    "  jobTemplate:",
    "    spec:",
    `      # The dataset's timeout (${Math.ceil(dataset.limits.timeoutMs / 1000)} s, enforced by \`edgesnap run\` itself) + its kill grace + ${START_MARGIN_SECONDS} s to start.`,
    `      activeDeadlineSeconds: ${figures.activeDeadlineSeconds}`,
    "      # The scheduler's retries after a failed run.",
    `      backoffLimit: ${figures.backoffLimit}`,
    "      ttlSecondsAfterFinished: 3600",
    "      template:",
    "        metadata:",
    "          labels:",
    ...labels("            "),
    "        spec:",
    "          restartPolicy: Never",
    "          automountServiceAccountToken: false",
    "          securityContext:",
    "            runAsNonRoot: true",
    "            runAsUser: 1000",
    "            runAsGroup: 1000",
    "            fsGroup: 1000",
    "            seccompProfile:",
    "              type: RuntimeDefault",
    "          containers:",
    "            - name: run",
    `              image: ${q(options.image)}`,
    "              imagePullPolicy: IfNotPresent",
    `              args: [${q("run")}, ${q(dataset.name)}]`,
    "              envFrom:",
    "                - secretRef:",
    `                    name: ${q(options.secretName ?? "edgesnap-compute")}`,
    `              # The run's ceiling (limits.memoryBytes, ${Math.round(dataset.limits.memoryBytes / MIB)} MiB, enforced by \`edgesnap run\`) + ${RUN_PROCESS_BYTES / MIB} MiB for the process around it.`,
    "              resources:",
    "                requests:",
    '                  cpu: "1"',
    `                  memory: ${figures.memory}`,
    "                limits:",
    '                  cpu: "1"',
    `                  memory: ${figures.memory}`,
    "                  ephemeral-storage: 6Gi",
    "              securityContext:",
    "                allowPrivilegeEscalation: false",
    "                readOnlyRootFilesystem: true",
    "                capabilities:",
    '                  drop: ["ALL"]',
    "              volumeMounts:",
    "                - name: temp-root",
    "                  mountPath: /var/lib/edgesnap/tmp",
    "                - name: tmp",
    "                  mountPath: /tmp",
    "          volumes:",
    "            - name: temp-root",
    "              emptyDir:",
    "                sizeLimit: 5Gi",
    "            - name: tmp",
    "              emptyDir:",
    "                sizeLimit: 512Mi",
  ];
}

/**
 * Every dataset's CronJob, one YAML document each, with a header saying how it was made.
 * @throws {EdgesnapError} "config" for a dataset whose schedule has seconds, or no dataset at all
 */
export function cronJobsYaml(datasets: readonly CronJobDataset[], options: CronJobOptions, registry: string): string {
  if (datasets.length === 0) throw new EdgesnapError("config", `${registry} lists no dataset to make a CronJob for`);
  const header = [
    "# One CronJob per dataset: the scale-out alternative to the scheduler Deployment. Each pod is a",
    "# one-shot `edgesnap run <dataset>` (build, publish, notify the edge, exit): Kubernetes does the",
    "# scheduling, each run gets its own pod, deadline and memory limit.",
    `# Generated from ${registry} by \`edgesnap kubernetes cronjobs\`: regenerate it when a`,
    "# definition changes (edits are lost). Use this or scheduler-deployment.yaml for a dataset, not both.",
    "#   kubectl apply -f secret.yaml -f cronjob-per-dataset.yaml",
  ];
  return `${[...header, ...datasets.flatMap((dataset, index) => [...(index > 0 ? ["---"] : []), ...cronJobYaml(dataset, options)])].join("\n")}\n`;
}
