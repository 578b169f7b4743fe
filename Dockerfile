# syntax=docker/dockerfile:1
# The compute container: the edgesnap scheduler, which runs every dataset build in a fresh child
# process and publishes to R2 over its S3 API. See docs/deploy.md.
#
#   docker build --platform linux/amd64 -t edgesnap-compute .
#   docker run --env-file edgesnap.env -v edgesnap-tmp:/var/lib/edgesnap/tmp edgesnap-compute            # the scheduler
#   docker run --env-file edgesnap.env edgesnap-compute run airport-delays                              # one run, then exit
#
# Any platform nodejs-polars ships a binding for (linux/amd64, linux/arm64): on Node 22 npm installs
# the binding for the build platform from polars' own optional dependencies.

# Pinned to the Node version the project is developed and tested with (the `node` devDependency).
ARG NODE_VERSION=22.23.3

# ---- deps: production dependencies only ---------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# `npm install --omit=dev`, not `npm ci --omit=dev`: the lockfile was generated against a registry
# mirror that lacks some platforms' optional builds (nodejs-polars-linux-arm64-gnu@0.26.1 among
# them), and `npm ci` refuses to add what the lockfile does not list. `npm install` installs the
# locked versions and resolves a missing platform build from the registry. With a lockfile
# generated against the public registry, `npm ci --omit=dev` is the right command.
# --ignore-scripts: no production dependency needs an install script (the project's postinstall
# only matters when npm runs on a Node older than 22, never in this image).
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime -------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim
# tini as PID 1: forwards SIGTERM/SIGINT to the scheduler (which then stops its runs gracefully)
# and reaps orphaned grandchildren of a killed run, which the kernel reparents to PID 1.
# (`docker run --init` does the same, but Kubernetes has no equivalent, so it is built in.)
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY contract ./contract
COPY compute ./compute

# Only non-secret settings here; credentials and the token come from the runtime (an env file, a
# Kubernetes Secret), never from the image. The image has no wrangler, so only the S3 store works;
# EDGESNAP_STORE=s3 makes a missing S3 setting stop the process at once with its name.
ENV NODE_ENV=production \
    EDGESNAP_STORE=s3 \
    EDGESNAP_TEMP_ROOT=/var/lib/edgesnap/tmp \
    EDGESNAP_METRICS_HOST=0.0.0.0 \
    EDGESNAP_METRICS_PORT=9464

# The temp root lives on a writable volume so the root filesystem can be read-only and a full temp
# dir never fills the image's layer; the scheduler sweeps it at start (runs killed mid-build).
RUN mkdir -p /var/lib/edgesnap/tmp && chown 1000:1000 /var/lib/edgesnap/tmp
VOLUME ["/var/lib/edgesnap/tmp"]

# The base image's unprivileged `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000

# /healthz and /metrics (Prometheus).
EXPOSE 9464
# node's fetch, because the slim image has no curl; 503 while the scheduler is stopping.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.EDGESNAP_METRICS_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# `edgesnap <command>`: the scheduler by default; `docker run IMAGE run <dataset>` for one run.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "compute/cli/bin.ts"]
CMD ["scheduler"]
