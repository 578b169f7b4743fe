/**
 * A liveness probe of the local Worker itself, not of wrangler's process: after a `kill -9` of the
 * workerd that `wrangler dev` runs, wrangler restarts one, says "ready", and every request then
 * hangs while wrangler's pid lives on. So `npm start` asks the Worker (`GET /healthz`) on a fixed
 * cadence, and a few failed answers in a row (a timeout, a refused connection, a non-2xx) mean the
 * edge is gone, whatever wrangler says.
 */

/** Time between probes, by default. */
export const DEFAULT_PROBE_INTERVAL_MS = 5_000;
/** How long one probe waits for the answer, by default. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;
/** Failed probes in a row that make the edge dead, by default: about 15 to 30 s of silence. */
export const DEFAULT_PROBE_FAILURES = 3;

export interface LivenessOptions {
  /** The Worker's base URL. */
  url: string;
  intervalMs?: number;
  timeoutMs?: number;
  /** Failed probes in a row before `onDead`. */
  failures?: number;
  /** Called once, with why the last probe failed, when the edge is taken for dead. */
  onDead: (reason: string) => void;
}

export interface LivenessWatch {
  /** Stops probing; waits for a probe in flight. */
  stop(): Promise<void>;
}

/** Why a probe failed, in a few words, or null when the Worker answered. */
export async function probeWorker(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok ? null : `answered ${response.status}`;
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause?.code;
    if ((error as Error).name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
    return cause ?? (error as Error).message;
  }
}

/** Probes the Worker every `intervalMs` (never two at once) until stopped or taken for dead. */
export function watchEdgeLiveness(options: LivenessOptions): LivenessWatch {
  const intervalMs = options.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const failures = options.failures ?? DEFAULT_PROBE_FAILURES;
  let failed = 0;
  let dead = false;
  let inFlight: Promise<void> | null = null;
  const probe = () => {
    if (inFlight || dead) return;
    inFlight = (async () => {
      const reason = await probeWorker(options.url, timeoutMs);
      failed = reason === null ? 0 : failed + 1;
      if (reason !== null && failed >= failures && !dead) {
        dead = true;
        clearInterval(timer);
        options.onDead(`${failed} health checks in a row failed, the last: ${reason}`);
      }
    })().finally(() => {
      inFlight = null;
    });
  };
  const timer = setInterval(probe, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      dead = true;
      await inFlight;
    },
  };
}
