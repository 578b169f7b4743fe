/**
 * The Dockerfile, checked instruction by instruction (there is no Docker engine here, and hadolint
 * is in neither npm nor Debian): a pinned Node 22 slim base, production dependencies only, a
 * non-root user, tini as init, the healthcheck, the entrypoint, the temp-root volume and no
 * secrets baked in. The healthcheck's own command is run against a real /healthz.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

interface Instruction {
  keyword: string;
  args: string;
  /** The stage the instruction belongs to (0-based; -1 before the first FROM). */
  stage: number;
}

/** Splits a Dockerfile into instructions: joins `\` continuations, drops comments and blank lines. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let stage = -1;
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (pending !== "" && line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const [keyword = ""] = full.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === "FROM") stage++;
    instructions.push({ keyword: upper, args: full.slice(keyword.length).trim(), stage });
  }
  return instructions;
}

/** Parses an exec-form array (`["a", "b"]`), failing on the shell form. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as string[];
}

const instructions = parseDockerfile(readFileSync(path.join(ROOT, "Dockerfile"), "utf8"));
const finalStage = Math.max(...instructions.map((i) => i.stage));
const final = instructions.filter((i) => i.stage === finalStage);
const one = (list: Instruction[], keyword: string): Instruction => {
  const found = list.filter((i) => i.keyword === keyword);
  expect(found, `exactly one ${keyword}`).toHaveLength(1);
  return found[0]!;
};
const globalArgs = new Map(
  instructions
    .filter((i) => i.keyword === "ARG" && i.stage === -1)
    .map((i) => i.args.split("=") as [string, string]),
);
const finalEnv = new Map(
  final
    .filter((i) => i.keyword === "ENV")
    .flatMap((i) => [...i.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!] as const)),
);

describe("Dockerfile", () => {
  it("builds every stage on a pinned Node 22 bookworm-slim image, never :latest", () => {
    const froms = instructions.filter((i) => i.keyword === "FROM");
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const image = from.args.split(/\s+/)[0]!.replace(/\$\{(\w+)\}/g, (_, name: string) => globalArgs.get(name) ?? "");
      expect(image).toMatch(/^node:22\.\d+\.\d+-bookworm-slim$/);
    }
    const devNode = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
      .devDependencies.node;
    expect(globalArgs.get("NODE_VERSION"), "the image runs the Node the tests run").toBe(devNode);
  });

  it("installs production dependencies only, from the lockfile, and carries no dev tooling", () => {
    const installs = instructions.filter((i) => i.keyword === "RUN" && /\bnpm (ci|install)\b/.test(i.args));
    expect(installs).toHaveLength(1);
    expect(installs[0]!.args).toMatch(/--omit=dev/);
    expect(installs[0]!.stage).toBeLessThan(finalStage);
    const copies = instructions.filter((i) => i.keyword === "COPY" && i.stage === installs[0]!.stage);
    expect(copies.map((c) => c.args)).toContain("package.json package-lock.json ./");
    const finalCopies = final.filter((i) => i.keyword === "COPY").map((i) => i.args);
    expect(finalCopies).toContain("--from=deps /app/node_modules ./node_modules");
    expect(finalCopies.some((c) => /\b(test|bench|edge)\b/.test(c))).toBe(false);
  });

  it("runs as a non-root user", () => {
    const user = final.filter((i) => i.keyword === "USER").at(-1);
    expect(user).toBeDefined();
    const [name] = user!.args.split(":");
    expect(["root", "0"]).not.toContain(name);
    // Numeric, so Kubernetes' runAsNonRoot can verify it without a runAsUser.
    expect(name).toMatch(/^\d+$/);
  });

  it("runs the scheduler under tini, installed from Debian, with the exec form", () => {
    const entrypoint = execForm(one(final, "ENTRYPOINT").args);
    const cmd = execForm(one(final, "CMD").args);
    expect(entrypoint.slice(0, 2)).toEqual(["/usr/bin/tini", "--"]);
    // The command the entrypoint test runs as a plain process.
    expect([...entrypoint.slice(2), ...cmd]).toEqual(["node", "compute/cli/bin.ts", "scheduler"]);
    expect(existsSync(path.join(ROOT, "compute/cli/bin.ts"))).toBe(true);
    expect(final.some((i) => i.keyword === "RUN" && /apt-get install .*\btini=/.test(i.args))).toBe(true);
  });

  it("exposes the metrics port and health-checks /healthz on it", () => {
    const port = finalEnv.get("EDGESNAP_METRICS_PORT");
    expect(port).toBe("9464");
    expect(one(final, "EXPOSE").args).toBe(port);
    // The status server must listen beyond loopback for Kubernetes probes and Prometheus.
    expect(finalEnv.get("EDGESNAP_METRICS_HOST")).toBe("0.0.0.0");
    const healthcheck = one(final, "HEALTHCHECK").args;
    expect(healthcheck).toMatch(/--interval=\d+s/);
    expect(healthcheck).toMatch(/--timeout=\d+s/);
    expect(healthcheck).toMatch(/\/healthz/);
  });

  it("keeps the temp root on a volume owned by the runtime user", () => {
    const tempRoot = finalEnv.get("EDGESNAP_TEMP_ROOT");
    expect(tempRoot).toBe("/var/lib/edgesnap/tmp");
    expect(execForm(one(final, "VOLUME").args)).toEqual([tempRoot]);
    const user = final.filter((i) => i.keyword === "USER").at(-1)!.args;
    expect(final.some((i) => i.keyword === "RUN" && i.args.includes(`chown ${user} ${tempRoot}`))).toBe(true);
  });

  it("bakes no secret into ENV or ARG and defaults to the S3 store", () => {
    const names = instructions
      .filter((i) => i.keyword === "ENV" || i.keyword === "ARG")
      .flatMap((i) => [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)/g)].map((m) => m[1]!));
    expect(names.filter((name) => /TOKEN|SECRET|PASSWORD|ACCESS_KEY|CREDENTIAL/i.test(name))).toEqual([]);
    expect(finalEnv.get("EDGESNAP_STORE")).toBe("s3");
  });

  it("sends only the runtime sources to the build context", () => {
    const ignore = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("#"));
    expect(ignore[0]).toBe("*");
    expect(ignore.filter((line) => line.startsWith("!")).sort()).toEqual(["!compute/", "!contract/", "!package-lock.json", "!package.json"]);
  });

  it("its healthcheck command exits 0 on a healthy /healthz and 1 on 503 or no answer", async () => {
    const cmd = execForm(one(final, "HEALTHCHECK").args.replace(/^(--\S+\s+)*CMD\s+/, ""));
    expect(cmd[0]).toBe("node");
    let status = 200;
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === "/healthz" ? status : 404).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const check = () =>
        promisify(execFile)(process.execPath, cmd.slice(1), { env: { ...process.env, EDGESNAP_METRICS_PORT: String(port) } }).then(
          () => 0,
          (error: { code: number }) => error.code,
        );
      expect(await check()).toBe(0);
      status = 503;
      expect(await check()).toBe(1);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      expect(await check()).toBe(1);
    } finally {
      server.close();
    }
  });
});
