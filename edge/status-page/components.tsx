/** @jsxImportSource hono/jsx */
/**
 * The status page's views (hono/jsx, rendered by the Worker): the overview of every dataset (its
 * age against its freshness budget with a stale badge, the watchdog's last alert, the heartbeat
 * chart of its last runs, Rebuild and Pin), and a page per dataset (its retained versions with
 * Roll back, its schema, its recent runs with their reasons, its recent alerts). The buttons are
 * plain forms; the page's script sends them with the session's key (edge/status-page/assets.ts).
 */
import type { FC } from "hono/jsx";
import type { AdminDataset, Alert, RunRecord } from "../../contract/index.ts";
import { formatAge, formatBytes, formatDuration } from "../../contract/format.ts";
import type { DatasetDetail, DatasetOverview, VersionSummary } from "../admin/overview.ts";
import { RunChart } from "./chart.tsx";
import { ViewFrame } from "./layout.tsx";

/** Where an action's form sends the browser back to: the overview or the dataset's page. */
export type ReturnTo = "overview" | "dataset";

const shortIso = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$/, "Z");

/** The dataset's age against its freshness budget, with a stale or fresh badge. */
export const FreshnessBadge: FC<{ dataset: AdminDataset }> = ({ dataset }) => {
  if (dataset.current === null) return <span class="muted">-</span>;
  const budget = dataset.max_age_seconds === null ? "no budget" : `of ${formatAge(dataset.max_age_seconds)}`;
  return (
    <span data-field="freshness" data-stale={String(dataset.stale)}>
      {formatAge(dataset.age_seconds)} {budget}{" "}
      {dataset.max_age_seconds === null ? null : dataset.stale ? <span class="badge">stale</span> : <span class="badge fresh">fresh</span>}
    </span>
  );
};

/** One alert of the watchdog (about a dataset, or the compute side as a whole). */
export const AlertLine: FC<{ alert: Alert; field?: string }> = ({ alert, field = "alert" }) => (
  <p class={`alert${alert.kind === "recovered" ? " recovered" : ""}`} data-field={field} data-kind={alert.kind}>
    <strong>{field === "last-alert" ? "last alert" : "alert"}</strong> <span class="muted">{shortIso(alert.time)}</span>{" "}
    {alert.kind === "recovered" ? `recovered (${alert.recovered})` : alert.kind}: {alert.message}
  </p>
);

export const LastAlert: FC<{ alert: Alert | null }> = ({ alert }) => (alert === null ? null : <AlertLine alert={alert} field="last-alert" />);

/** A button that posts one action for a dataset. */
const ActionForm: FC<{ dataset: string; action: string; label: string; returnTo: ReturnTo; version?: string }> = ({ dataset, action, label, returnTo, version }) => (
  <form method="post" action={`/admin/datasets/${dataset}/${action}`}>
    <input type="hidden" name="back" value={returnTo} />
    {version ? <input type="hidden" name="version" value={version} /> : null}
    <button type="submit" data-action={action} data-version={version}>
      {label}
    </button>
  </form>
);

const DatasetActions: FC<{ dataset: AdminDataset; returnTo: ReturnTo }> = ({ dataset, returnTo }) => (
  <div class="actions">
    <ActionForm dataset={dataset.name} action="rebuild" label="Rebuild" returnTo={returnTo} />
    <ActionForm dataset={dataset.name} action={dataset.pinned ? "unpin" : "pin"} label={dataset.pinned ? "Unpin" : "Pin"} returnTo={returnTo} />
  </div>
);

/** The dataset's current version, size, pin and pending request, and its freshness. */
const DatasetSummary: FC<{ dataset: AdminDataset }> = ({ dataset }) => {
  const request = dataset.pending_request;
  return (
    <>
      {dataset.current === null ? (
        <p>
          <span class="muted" data-field="current">
            nothing published yet
          </span>
          {request ? <span data-field="request"> · rebuild {request.state}</span> : null}
        </p>
      ) : (
        <>
          <p>
            current <code data-field="current">{dataset.current}</code> · {dataset.rows ?? "-"} rows · {formatBytes(dataset.bytes)}
            {dataset.pages !== null ? ` · ${dataset.pages} page${dataset.pages === 1 ? "" : "s"}` : ""}
            {dataset.pinned ? <strong data-field="pinned"> · pinned</strong> : null}
            {request ? <span data-field="request"> · rebuild {request.state}</span> : null}
          </p>
          <p>
            confirmed <FreshnessBadge dataset={dataset} />
            {dataset.checked_at ? <span class="muted"> · last checked {shortIso(dataset.checked_at)}</span> : null}
          </p>
        </>
      )}
    </>
  );
};

/** Recent runs, newest first, with why each one ended as it did. */
export const RunsTable: FC<{ runs: readonly RunRecord[] }> = ({ runs }) => (
  <div class="scroll">
    <table data-table="runs">
      <thead>
        <tr>
          <th>started</th>
          <th>trigger</th>
          <th>outcome</th>
          <th>duration</th>
          <th class="hide-narrow">peak mem</th>
          <th>version</th>
          <th>reason</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr data-run={r.id} data-outcome={r.outcome}>
            <td>{shortIso(r.started_at)}</td>
            <td>{r.trigger}</td>
            <td class={`o-${r.outcome}`}>{r.outcome}</td>
            <td>{formatDuration(r.duration_ms)}</td>
            <td class="hide-narrow">{formatBytes(r.peak_rss_bytes)}</td>
            <td>
              <code>{r.version ?? "-"}</code>
            </td>
            <td class="wrap">{r.reason ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

/** Runs shown in a dataset's table on the overview (the chart shows more). */
const RUNS_IN_OVERVIEW_TABLE = 5;

const DatasetCard: FC<{ row: DatasetOverview }> = ({ row: { dataset, runs } }) => (
  <section class="dataset" id={`ds-${dataset.name}`} data-dataset={dataset.name}>
    <h2>
      <a href={`/admin/datasets/${dataset.name}`} data-view>
        {dataset.name}
      </a>
    </h2>
    <DatasetSummary dataset={dataset} />
    <LastAlert alert={dataset.last_alert} />
    <DatasetActions dataset={dataset} returnTo="overview" />
    {runs.length > 0 ? (
      <>
        <RunChart runs={runs} />
        <RunsTable runs={runs.slice(0, RUNS_IN_OVERVIEW_TABLE)} />
      </>
    ) : (
      <p class="muted">no runs reported yet</p>
    )}
    <p>
      <a href={`/admin/datasets/${dataset.name}`} data-view>
        versions, schema, runs and alerts of {dataset.name}
      </a>
    </p>
  </section>
);

const DatasetsTable: FC<{ rows: readonly DatasetOverview[] }> = ({ rows }) => (
  <div class="scroll">
    <table data-table="datasets">
      <thead>
        <tr>
          <th>dataset</th>
          <th>current</th>
          <th>age / budget</th>
          <th>rows</th>
          <th>size</th>
          <th>last run</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ dataset }) => (
          <tr data-dataset={dataset.name}>
            <td>
              <a href={`/admin/datasets/${dataset.name}`} data-view>
                {dataset.name}
              </a>
              {dataset.pinned ? (
                <>
                  {" "}
                  <span class="badge plain">pinned</span>
                </>
              ) : null}
            </td>
            <td>
              <code>{dataset.current ?? "-"}</code>
            </td>
            <td>
              <FreshnessBadge dataset={dataset} />
            </td>
            <td>{dataset.rows ?? "-"}</td>
            <td>{formatBytes(dataset.bytes)}</td>
            <td class={dataset.last_run ? `o-${dataset.last_run.outcome}` : ""}>{dataset.last_run?.outcome ?? "-"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

export const OverviewPage: FC<{
  rows: readonly DatasetOverview[];
  flash?: string;
  refreshSeconds?: number;
  /** The watchdog's last alert about the compute side as a whole. */
  schedulerAlert?: Alert | null;
}> = ({ rows, flash, refreshSeconds, schedulerAlert = null }) => (
  <ViewFrame title="edgesnap status" flash={flash} refreshSeconds={refreshSeconds}>
    <LastAlert alert={schedulerAlert} />
    <DatasetsTable rows={rows} />
    {rows.length === 0 ? <p class="muted">no datasets yet</p> : null}
    {rows.map((row) => (
      <DatasetCard row={row} />
    ))}
  </ViewFrame>
);

const VersionsTable: FC<{ dataset: AdminDataset; versions: readonly VersionSummary[] }> = ({ dataset, versions }) => (
  <div class="scroll">
    <table data-table="versions">
      <thead>
        <tr>
          <th>version</th>
          <th />
          <th>built</th>
          <th>rows</th>
          <th>size</th>
          <th class="hide-narrow">pages</th>
          <th class="hide-narrow">formats</th>
        </tr>
      </thead>
      <tbody>
        {versions.map((v) => (
          <tr data-version={v.version} data-current={String(v.version === dataset.current)}>
            <td>
              <code title={`sha256 ${v.hash}`}>{v.version}</code>
            </td>
            <td>
              {v.version === dataset.current ? (
                <span class="badge fresh">{dataset.pinned ? "current, pinned" : "current"}</span>
              ) : (
                <ActionForm dataset={dataset.name} action="rollback" label="Roll back to this" returnTo="dataset" version={v.version} />
              )}
            </td>
            <td>{shortIso(v.generated_at)}</td>
            <td>{v.rows}</td>
            <td>{formatBytes(v.bytes)}</td>
            <td class="hide-narrow">{v.pages}</td>
            <td class="hide-narrow">{["json", ...v.formats].join(", ")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

const SchemaTable: FC<{ schema: DatasetDetail["schema"] }> = ({ schema }) =>
  schema === null ? (
    <p class="muted">nothing published yet</p>
  ) : (
    <div class="scroll">
      <table data-table="schema">
        <thead>
          <tr>
            <th>column</th>
            <th>type</th>
            <th>nulls</th>
          </tr>
        </thead>
        <tbody>
          {schema.columns.map((column) => (
            <tr data-column={column.name}>
              <td>
                <code>{column.name}</code>
                {column.name === schema.key ? (
                  <>
                    {" "}
                    <span class="badge plain">key</span>
                  </>
                ) : null}
              </td>
              <td>{column.type}</td>
              <td>{column.nullable ? "yes" : "no"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

/** Runs in a dataset page's table (its chart shows them all). */
export const RUNS_IN_DATASET_TABLE = 20;

export const DatasetPage: FC<{ detail: DatasetDetail; flash?: string; refreshSeconds?: number }> = ({ detail, flash, refreshSeconds }) => {
  const { dataset, runs, versions, schema, alerts } = detail;
  return (
    <ViewFrame title={`${dataset.name} · edgesnap`} flash={flash} refreshSeconds={refreshSeconds}>
      <p>
        <a href="/admin" data-view>
          ← all datasets
        </a>
      </p>
      <section class="dataset" id={`ds-${dataset.name}`} data-dataset={dataset.name} data-page="dataset">
        <h2>{dataset.name}</h2>
        <DatasetSummary dataset={dataset} />
        <DatasetActions dataset={dataset} returnTo="dataset" />
        <h3>Runs</h3>
        {runs.length > 0 ? (
          <>
            <RunChart runs={runs} />
            <RunsTable runs={runs.slice(0, RUNS_IN_DATASET_TABLE)} />
          </>
        ) : (
          <p class="muted">no runs reported yet</p>
        )}
        <h3>Retained versions</h3>
        {versions.length > 0 ? <VersionsTable dataset={dataset} versions={versions} /> : <p class="muted">nothing published yet</p>}
        <h3>Schema{schema?.key ? ` (keyed by ${schema.key})` : ""}</h3>
        <SchemaTable schema={schema} />
        <h3>Alerts</h3>
        {alerts.length > 0 ? alerts.map((alert) => <AlertLine alert={alert} />) : <p class="muted">no alerts</p>}
      </section>
    </ViewFrame>
  );
};
