/**
 * The Kubernetes examples in deploy/kubernetes, parsed with the `yaml` package and checked for what
 * keeps the schedulers healthy in a cluster, for both ways to run many datasets: replicas of the
 * scheduler sharing the work through leases (probes on /livez and /healthz at the port the image
 * listens on, limits that fit the configured runs), and one CronJob per dataset, which must be
 * exactly what `edgesnap kubernetes cronjobs` generates from the definitions (run as a real process
 * here): never overlapping, deadlines from the timeouts, memory limits from the ceilings. Both: a
 * non-root read-only container with the temp root on a volume, settings from the Secret.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { CONFIG_ENV, leaseSettings, loadConfig, parseByteSize } from "../../compute/config.ts";
import { cronJobFigures, cronJobName, cronJobsYaml, RUN_PROCESS_BYTES, START_MARGIN_SECONDS } from "../../compute/scheduler/cronjobs.ts";
import { spawnCli } from "../support/processes.ts";
import { loadDatasets } from "../../compute/dataset/registry.ts";
import { parseAllDocuments } from "yaml";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** A parsed manifest: untyped on purpose, every field the tests rely on is asserted. */
type Manifest = any;

/**
 * Every document of a multi-document YAML text as plain values.
 * @throws the first error of a malformed document, rather than a partly read manifest
 */
function parseYamlDocuments(source: string): unknown[] {
  return parseAllDocuments(source).map((document) => {
    const [error] = document.errors;
    if (error) throw error;
    return document.toJS() as unknown;
  });
}

function manifests(file: string): Manifest[] {
  return parseYamlDocuments(readFileSync(path.join(ROOT, "deploy/kubernetes", file), "utf8")) as Manifest[];
}

/** The final stage's ENV of the Dockerfile: what every container gets before the manifest's env. */
const IMAGE_ENV = new Map(
  [...readFileSync(path.join(ROOT, "Dockerfile"), "utf8").matchAll(/^\s*(?:ENV\s+)?(EDGESNAP_[A-Z_]+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]),
);

const [secret] = manifests("secret.example.yaml");
const [deployment] = manifests("scheduler-deployment.yaml");
const cronJobs = manifests("cronjob-per-dataset.yaml");

/** The example Secret with its `<placeholders>` filled in, as an operator would (long enough for the admin token). */
const FILLED_SECRET: Record<string, string> = Object.fromEntries(
  Object.entries(secret.stringData as Record<string, string>).map(([name, value]) => [name, value.replace(/<[^>]*>/g, "filled-in-by-the-operator-0123456789abcdef")]),
);

/** The environment a container sees: the image's ENV, the (filled-in) Secret and its own env. */
function containerEnv(container: Manifest): Record<string, string> {
  const env: Record<string, string> = Object.fromEntries(IMAGE_ENV);
  for (const from of container.envFrom ?? []) {
    expect(from.secretRef.name).toBe(secret.metadata.name);
    Object.assign(env, FILLED_SECRET);
  }
  for (const { name, value } of container.env ?? []) env[name] = value;
  return env;
}

function expectHardenedPod(podSpec: Manifest, container: Manifest): void {
  expect(podSpec.securityContext.runAsNonRoot).toBe(true);
  expect(podSpec.securityContext.runAsUser).not.toBe(0);
  expect(podSpec.automountServiceAccountToken).toBe(false);
  expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
  // With a read-only root, the temp root must be a mounted volume.
  const tempRoot = IMAGE_ENV.get("EDGESNAP_TEMP_ROOT");
  const mount = container.volumeMounts.find((m: Manifest) => m.mountPath === tempRoot);
  expect(mount, `a volume at ${tempRoot}`).toBeDefined();
  const volume = podSpec.volumes.find((v: Manifest) => v.name === mount.name);
  expect(volume.emptyDir ?? volume.persistentVolumeClaim).toBeDefined();
  expect(container.resources.limits.memory).toBeDefined();
  expect(container.resources.limits.cpu).toBeDefined();
}

describe("secret.example.yaml", () => {
  it("holds every setting the S3 store requires and only EDGESNAP_ variables", () => {
    expect(secret.kind).toBe("Secret");
    const keys = Object.keys(secret.stringData);
    expect(keys.every((key) => Object.values(CONFIG_ENV).includes(key as never))).toBe(true);
    for (const name of ["EDGESNAP_S3_ENDPOINT", "EDGESNAP_S3_BUCKET", "EDGESNAP_S3_ACCESS_KEY_ID", "EDGESNAP_S3_SECRET_ACCESS_KEY", "EDGESNAP_EDGE_URL", "EDGESNAP_TOKEN"]) {
      expect(keys).toContain(name);
    }
  });

  it("applied without filling in its placeholders, stops the process naming the first one", () => {
    expect(() => loadConfig({ ...Object.fromEntries(IMAGE_ENV), ...secret.stringData })).toThrow(
      "invalid setting EDGESNAP_S3_ENDPOINT (expected an http(s) URL)",
    );
  });
});

describe("scheduler-deployment.yaml", () => {
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it("runs several schedulers that share the work through leases, also side by side during a rollout", () => {
    expect(deployment.kind).toBe("Deployment");
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    expect(deployment.spec.strategy.type).toBe("RollingUpdate");
    const config = loadConfig(containerEnv(container));
    expect(leaseSettings(config)).toEqual({ enabled: true, periodMs: 30_000 });
    expect(pod.containers).toHaveLength(1);
    expect(container.args).toEqual(["scheduler"]);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it("probes /livez (liveness) and /healthz (readiness) on the port the scheduler listens on, on all interfaces", () => {
    const env = containerEnv(container);
    const port = container.ports.find((p: Manifest) => p.name === "metrics");
    expect(String(port.containerPort)).toBe(env.EDGESNAP_METRICS_PORT);
    expect(env.EDGESNAP_METRICS_HOST).toBe("0.0.0.0");
    // A scheduler whose every run fails is shown as not ready, and not restarted for it.
    expect(container.livenessProbe.httpGet).toEqual({ path: "/livez", port: "metrics" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    for (const probe of [container.livenessProbe, container.readinessProbe]) expect(probe.timeoutSeconds).toBeGreaterThan(0);
  });

  it("is non-root with a read-only root filesystem and the temp root on a volume", () => {
    expectHardenedPod(pod, container);
  });

  it("reads a valid S3 configuration from the Secret, its env and the image", () => {
    const config = loadConfig(containerEnv(container));
    expect(config.store.kind).toBe("s3");
    expect(config.tempRoot).toBe("/var/lib/edgesnap/tmp");
  });

  it("gives the scheduler a memory limit that holds its concurrent runs at their cap", () => {
    const config = loadConfig(containerEnv(container));
    const limit = parseByteSize(container.resources.limits.memory)!;
    const runs = config.concurrency * config.limits!.maxMemoryBytes!;
    // The scheduler's own process stays under 100 MB (measured: 41-47 MB over 50 runs; bench/heartbeat).
    expect(runs + 256 * 1024 ** 2).toBeLessThanOrEqual(limit);
  });

  it("waits for the scheduler's graceful stop before the kubelet kills it", () => {
    // DEFAULT_SHUTDOWN_GRACE_MS (30 s) for builds to finish + DEFAULT_KILL_GRACE_MS (5 s).
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(35);
  });
});

describe("cronjob-per-dataset.yaml", async () => {
  const datasets = await loadDatasets(path.join(ROOT, "compute/examples/index.ts"));

  it("is exactly what `edgesnap kubernetes cronjobs` generates from the bundled definitions", async () => {
    const cli = spawnCli(["kubernetes", "cronjobs"], {}, { timeoutMs: 60_000 });
    expect((await cli.exit).code).toBe(0);
    expect(cli.stdout()).toBe(readFileSync(path.join(ROOT, "deploy/kubernetes/cronjob-per-dataset.yaml"), "utf8"));
  }, 90_000);

  it("writes the same to a file with --out, and refuses an unknown kind of manifest (exit 2)", async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), "edgesnap-cronjobs-")), "cronjobs.yaml");
    const cli = spawnCli(["kubernetes", "cronjobs", "--out", out, "--image", "registry.example/edgesnap:2"], {}, { timeoutMs: 60_000 });
    expect((await cli.exit).code).toBe(0);
    expect(cli.stderr()).toBe(`wrote ${datasets.length} CronJobs to ${out}\n`);
    const written = parseYamlDocuments(readFileSync(out, "utf8")) as Manifest[];
    expect(written.map((job) => job.spec.jobTemplate.spec.template.spec.containers[0].image)).toEqual(datasets.map(() => "registry.example/edgesnap:2"));
    const wrong = spawnCli(["kubernetes", "pods"], {}, { timeoutMs: 60_000 });
    expect((await wrong.exit).code).toBe(2);
    expect(wrong.stderr()).toBe('edgesnap: unknown manifest kind "pods" (known: cronjobs)\n');
  }, 90_000);

  it("takes each deadline from the dataset's timeout and each memory limit from its ceiling", () => {
    for (const [index, job] of cronJobs.entries()) {
      const { limits } = datasets[index]!;
      expect(job.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(Math.ceil(limits.timeoutMs / 1000) + 5 + START_MARGIN_SECONDS);
      const resources = job.spec.jobTemplate.spec.template.spec.containers[0].resources;
      expect(parseByteSize(resources.limits.memory)).toBe(limits.memoryBytes + RUN_PROCESS_BYTES);
      expect(resources.requests.memory).toBe(resources.limits.memory);
    }
  });

  it("has one CronJob for each bundled dataset, running `edgesnap run <dataset>` on its schedule", () => {
    expect(cronJobs.map((job) => job.kind)).toEqual(datasets.map(() => "CronJob"));
    const args = cronJobs.map((job) => job.spec.jobTemplate.spec.template.spec.containers[0].args);
    expect(args).toEqual(datasets.map((dataset) => ["run", dataset.name]));
    for (const [index, job] of cronJobs.entries()) {
      expect(job.spec.schedule).toBe(datasets[index]!.schedule);
      expect(job.metadata.name).toBe(`edgesnap-${datasets[index]!.name}`);
    }
  });

  it.each(cronJobs.map((job) => [job.metadata.name as string, job]))("%s never overlaps and gives up in time", (_, job: Manifest) => {
    const { spec } = job;
    expect(spec.concurrencyPolicy).toBe("Forbid");
    const cron = new Cron(spec.schedule, { timezone: spec.timeZone, paused: true });
    const [first, second] = cron.nextRuns(2);
    const periodSeconds = (second!.getTime() - first!.getTime()) / 1000;
    // A missed start is skipped before the next one is due; a run ends before the next one starts.
    expect(spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.startingDeadlineSeconds).toBeLessThan(periodSeconds);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBeLessThanOrEqual(periodSeconds);
    expect(spec.jobTemplate.spec.backoffLimit).toBeGreaterThanOrEqual(0);
    expect(spec.jobTemplate.spec.backoffLimit).toBeLessThanOrEqual(3);
  });

  it.each(cronJobs.map((job) => [job.metadata.name as string, job]))("%s runs hardened, with the Secret's settings", (_, job: Manifest) => {
    const pod = job.spec.jobTemplate.spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    expectHardenedPod(pod, pod.containers[0]);
    expect(loadConfig(containerEnv(pod.containers[0])).store.kind).toBe("s3");
  });
});

describe("generating CronJobs", () => {
  const dataset = { name: "hourly", schedule: "0 * * * *", limits: { timeoutMs: 600_000, memoryBytes: 3 * 1024 ** 3 } };

  it("derives every figure from the definition", () => {
    expect(cronJobFigures(dataset, "UTC")).toEqual({ activeDeadlineSeconds: 600 + 5 + 30, startingDeadlineSeconds: 120, backoffLimit: 2, memory: "3328Mi" });
    // A start missed by half a period is skipped, for schedules shorter than 4 minutes too.
    expect(cronJobFigures({ ...dataset, schedule: "*/2 * * * *" }, "UTC").startingDeadlineSeconds).toBe(60);
  });

  it("refuses a schedule with seconds, which Kubernetes cannot run, naming the dataset", () => {
    expect(() => cronJobsYaml([{ ...dataset, schedule: "*/10 * * * * *" }], { image: "x", timezone: "UTC" }, "r.ts")).toThrow(
      'dataset hourly: schedule "*/10 * * * * *" has a seconds field, which Kubernetes CronJobs do not; run it with the scheduler Deployment instead',
    );
    expect(() => cronJobsYaml([], { image: "x", timezone: "UTC" }, "r.ts")).toThrow("r.ts lists no dataset to make a CronJob for");
  });

  it("keeps names Kubernetes accepts (52 characters at most) and distinct, and quotes what it writes", () => {
    const long = "a".repeat(60);
    expect(cronJobName(long).length).toBeLessThanOrEqual(52);
    expect(cronJobName(long)).not.toBe(cronJobName(`${"a".repeat(59)}b`));
    expect(cronJobName("airport-delays")).toBe("edgesnap-airport-delays");
    const [job] = parseYamlDocuments(cronJobsYaml([dataset], { image: 'registry.example/edgesnap:1 # "quoted"', timezone: "Europe/Paris" }, "r.ts")) as Manifest[];
    expect(job.spec.timeZone).toBe("Europe/Paris");
    expect(job.spec.jobTemplate.spec.template.spec.containers[0].image).toBe('registry.example/edgesnap:1 # "quoted"');
  });
});

describe("reading the manifests", () => {
  it("reads nested mappings, sequences of mappings, flow sequences, quotes, comments and every document", () => {
    const docs = parseYamlDocuments(
      ["a: 1 # one", "b:", "  - name: x", '    value: "2 # not a comment"', "  - plain", "c:", "  d: [\"e\", \"f\"]", "  g: true", "---", "h: i:j"].join("\n"),
    );
    expect(docs).toEqual([{ a: 1, b: [{ name: "x", value: "2 # not a comment" }, "plain"], c: { d: ["e", "f"], g: true } }, { h: "i:j" }]);
  });

  it("refuses malformed YAML instead of misreading it", () => {
    expect(() => parseYamlDocuments("a: 1\n   b: 2")).toThrow();
    expect(() => parseYamlDocuments('a: "unterminated')).toThrow();
    expect(() => parseYamlDocuments("a: 1\na: 2")).toThrow(/unique/);
  });
});
