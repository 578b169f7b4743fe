/**
 * `edgesnap rebuild <dataset> [--wait] [--force]`: ask the scheduler, through the edge, to rebuild a
 * dataset now. With --wait, follows the request until its run finishes and exits with the run's
 * outcome (0 ok/unchanged, 5 rejected by a gate, 4 any other failure).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { defineCommand } from "citty";
import { confirmsContent, type RebuildRequest } from "../../../contract/index.ts";
import { CONNECTION_ARGS, connectEdge } from "../../edge-client/connect.ts";
import { formatDuration } from "../format.ts";
import { EdgesnapError, ERROR_CODES } from "../../errors.ts";
import { withGlobals, type CommandFactory } from "../context.ts";

/** The exit code of a finished request. */
export function exitCodeForRequest(request: RebuildRequest): number {
  if (request.outcome !== null && confirmsContent(request.outcome)) return 0;
  if (request.outcome === "rejected") return ERROR_CODES["gate-rejected"];
  return ERROR_CODES["build-failed"];
}

const rebuildCommand: CommandFactory = (cli) =>
  defineCommand({
    meta: { name: "rebuild", description: "Rebuild a dataset now (the running scheduler picks the request up)" },
    args: {
      dataset: { type: "positional", description: "Dataset name", required: true },
      wait: { type: "boolean", description: "Wait for the run and exit with its outcome", default: false },
      force: { type: "boolean", description: "Ask the run to bypass 'unchanged' and gates where supported", default: false },
      timeout: { type: "string", description: "Seconds to --wait before giving up", default: "600" },
      interval: { type: "string", description: "Seconds between checks while --waiting", default: "1" },
      ...CONNECTION_ARGS,
    },
    async run({ args: own }) {
      const args = withGlobals(cli, own);
      const { io } = cli;
      const timeoutS = Number(args.timeout);
      const intervalS = Number(args.interval);
      if (!(timeoutS > 0) || !(intervalS > 0)) throw new EdgesnapError("config", "--timeout and --interval must be positive numbers of seconds");
      const client = connectEdge(args);
      const accepted = await client.requestRebuild(args.dataset, { force: args.force });
      if (!args.wait) {
        io.stdout(
          args.json
            ? `${JSON.stringify(accepted)}\n`
            : `${args.dataset}: rebuild ${accepted.coalesced ? "already pending" : "requested"}: ${accepted.request_id}\n`,
        );
        return;
      }
      if (!args.json) io.stderr(`${args.dataset}: rebuild ${accepted.coalesced ? "already pending" : "requested"} (${accepted.request_id}); waiting for the scheduler\n`);
      const started = Date.now();
      let last = accepted.request;
      let shown = "";
      while (last.state !== "done") {
        if (Date.now() - started > timeoutS * 1000) {
          throw new EdgesnapError("internal", `gave up after ${timeoutS} s: request ${last.id} is still ${last.state}`);
        }
        await sleep(intervalS * 1000);
        last = await client.getRequest(accepted.request_id);
        const line = last.state === "claimed" ? `claimed by the scheduler, building` : last.state;
        if (!args.json && line !== shown && last.state !== "done") {
          io.stderr(`  ${formatDuration(Date.now() - started).padStart(6)}  ${line}\n`);
          shown = line;
        }
      }
      if (args.json) io.stdout(`${JSON.stringify(last)}\n`);
      else {
        const detail = last.outcome === "ok" ? `new version ${last.version}` : last.outcome === "unchanged" ? `unchanged, still ${last.version ?? "-"}` : (last.reason ?? "");
        io.stdout(`${args.dataset}: ${last.outcome} after ${formatDuration(Date.now() - started)}${detail ? `: ${detail}` : ""} (run ${last.run_id ?? "-"})\n`);
      }
      cli.exitCode = exitCodeForRequest(last);
    },
  });

export default rebuildCommand;
