/** @jsxImportSource hono/jsx */
/**
 * The status page's markup (hono/jsx, rendered on the server; no front-end build): each dataset's
 * age against its freshness budget with a stale badge, the watchdog's last alert, runs. Plain forms do
 * the actions, so the page works without script, each with the session's CSRF token in a hidden
 * field, and a small viewport-aware stylesheet keeps it usable on a phone.
 */
import type { FC, PropsWithChildren } from "hono/jsx";
import type { AdminDataset, Alert, RunRecord } from "../../contract/index.ts";
import { formatAge, formatBytes, formatDuration } from "../../contract/format.ts";
import { CSRF_FIELD } from "./form-guard.ts";

const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--muted:#6e7781;--line:#d0d7de}
*{box-sizing:border-box}body{font:15px/1.4 system-ui,-apple-system,sans-serif;margin:0 auto;max-width:1100px;padding:12px}
h1{font-size:1.3rem;margin:0}header{display:flex;justify-content:space-between;align-items:center;gap:8px;margin-bottom:12px}
.flash{padding:8px 12px;border:1px solid var(--line);border-radius:6px;margin:8px 0}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:.8rem;color:var(--muted);font-weight:600}
section.dataset{border:1px solid var(--line);border-radius:8px;padding:12px;margin:16px 0}
section.dataset h2{font-size:1.1rem;margin:0 0 6px}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}.actions form{display:flex;gap:6px;align-items:center}
button,select,input{font:inherit;padding:6px 10px;border-radius:6px;border:1px solid var(--line)}button{cursor:pointer}
.o-ok{color:var(--ok)}.o-failed,.o-timed-out,.o-memory-killed,.o-rejected{color:var(--bad)}.o-unchanged,.o-cancelled{color:var(--muted)}
.muted{color:var(--muted)}svg.chart{max-width:100%;height:auto}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:.8rem;font-weight:600;color:#fff;background:var(--bad)}.badge.fresh{background:var(--ok)}
.alert{border-left:4px solid var(--bad);padding:4px 8px;margin:6px 0}.alert.recovered{border-color:var(--ok)}
@media (max-width:600px){body{padding:8px}th,td{padding:3px 5px}.hide-narrow{display:none}}
`;

export const Layout: FC<PropsWithChildren<{ title: string; refreshSeconds?: number }>> = ({ title, refreshSeconds, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      {refreshSeconds ? <meta http-equiv="refresh" content={String(refreshSeconds)} /> : null}
      <title>{title}</title>
      <style>{STYLE}</style>
    </head>
    <body>{children}</body>
  </html>
);

/** The hidden field that carries the session's CSRF token back with a form (edge/status-page/form-guard.ts). */
export const CsrfField: FC<{ token: string }> = ({ token }) => <input type="hidden" name={CSRF_FIELD} value={token} />;

export const LoginPage: FC<{ error?: string }> = ({ error }) => (
  <Layout title="edgesnap: sign in">
    <header>
      <h1>edgesnap</h1>
    </header>
    {error ? (
      <p class="flash" role="alert">
        {error}
      </p>
    ) : null}
    <form method="post" action="/admin/login" class="actions">
      <label>
        Admin token <input type="password" name="token" autocomplete="current-password" required autofocus />
      </label>
      <button type="submit">Sign in</button>
    </form>
    <p class="muted">The token is checked by the Worker and kept only as an HttpOnly session cookie in this browser.</p>
  </Layout>
);

/**
 * Duration (bars) and peak memory (line) of runs, oldest on the left. Scaled to the largest value
 * shown; each bar has a tooltip with the exact figures.
 */
export const RunChart: FC<{ runs: readonly RunRecord[] }> = ({ runs }) => {
  const ordered = [...runs].reverse();
  const width = 320;
  const height = 90;
  const pad = 4;
  const n = Math.max(ordered.length, 1);
  const slot = (width - 2 * pad) / n;
  const maxMs = Math.max(1, ...ordered.map((r) => r.duration_ms));
  const maxRss = Math.max(1, ...ordered.map((r) => r.peak_rss_bytes ?? 0));
  const y = (fraction: number) => height - pad - fraction * (height - 2 * pad);
  const points = ordered
    .map((r, i) => (r.peak_rss_bytes === null ? null : `${(pad + slot * (i + 0.5)).toFixed(1)},${y(r.peak_rss_bytes / maxRss).toFixed(1)}`))
    .filter((p): p is string => p !== null)
    .join(" ");
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`duration (bars, max ${formatDuration(maxMs)}) and peak memory (line, max ${formatBytes(maxRss)}) of the last ${ordered.length} runs`}>
      <rect x="0" y="0" width={width} height={height} fill="none" stroke="currentColor" stroke-opacity="0.15" />
      {ordered.map((r, i) => {
        const h = (r.duration_ms / maxMs) * (height - 2 * pad);
        const color = r.outcome === "ok" ? "#1a7f37" : r.outcome === "unchanged" ? "#8c959f" : "#cf222e";
        return (
          <rect x={(pad + slot * i + slot * 0.15).toFixed(1)} y={(height - pad - h).toFixed(1)} width={(slot * 0.7).toFixed(1)} height={Math.max(1, h).toFixed(1)} fill={color} fill-opacity="0.7">
            <title>{`${r.started_at} ${r.outcome}: ${formatDuration(r.duration_ms)}, peak ${formatBytes(r.peak_rss_bytes)}`}</title>
          </rect>
        );
      })}
      {points.includes(" ") ? <polyline points={points} fill="none" stroke="#0969da" stroke-width="2" /> : null}
      <text x={width - pad} y="12" text-anchor="end" font-size="10" fill="currentColor">{`max ${formatDuration(maxMs)} / ${formatBytes(maxRss)}`}</text>
    </svg>
  );
};

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

/** The watchdog's last alert (about a dataset, or the compute side as a whole). */
export const LastAlert: FC<{ alert: Alert | null }> = ({ alert }) =>
  alert === null ? null : (
    <p class={`alert${alert.kind === "recovered" ? " recovered" : ""}`} data-field="last-alert" data-kind={alert.kind}>
      <strong>last alert</strong> <span class="muted">{alert.time.replace("T", " ").replace(/\.\d+Z$/, "Z")}</span> {alert.kind === "recovered" ? `recovered (${alert.recovered})` : alert.kind}: {alert.message}
    </p>
  );

export const DatasetSection: FC<{ dataset: AdminDataset; runs: readonly RunRecord[]; csrf: string }> = ({ dataset, runs, csrf }) => {
  const others = dataset.versions.filter((v) => v !== dataset.current);
  const request = dataset.pending_request;
  return (
    <section class="dataset" id={`ds-${dataset.name}`} data-dataset={dataset.name}>
      <h2>{dataset.name}</h2>
      <p>
        current <code data-field="current">{dataset.current ?? "-"}</code> · {dataset.rows ?? "-"} rows · {formatBytes(dataset.bytes)}
        {dataset.pinned ? <strong data-field="pinned"> · pinned</strong> : null}
        {request ? <span data-field="request"> · rebuild {request.state}</span> : null}
      </p>
      <p>
        confirmed <FreshnessBadge dataset={dataset} />
        {dataset.checked_at ? <span class="muted"> · last checked {dataset.checked_at.replace("T", " ").replace(/\.\d+Z$/, "Z")}</span> : null}
      </p>
      <LastAlert alert={dataset.last_alert} />
      <div class="actions">
        <form method="post" action={`/admin/datasets/${dataset.name}/rebuild`}>
          <CsrfField token={csrf} />
          <button type="submit" data-action="rebuild">Rebuild</button>
        </form>
        <form method="post" action={`/admin/datasets/${dataset.name}/${dataset.pinned ? "unpin" : "pin"}`}>
          <CsrfField token={csrf} />
          <button type="submit" data-action={dataset.pinned ? "unpin" : "pin"}>{dataset.pinned ? "Unpin" : "Pin"}</button>
        </form>
        {others.length > 0 ? (
          <form method="post" action={`/admin/datasets/${dataset.name}/rollback`}>
            <CsrfField token={csrf} />
            <select name="version" aria-label="version to roll back to">
              {others.map((v) => (
                <option value={v}>{v}</option>
              ))}
            </select>
            <button type="submit" data-action="rollback">Roll back</button>
          </form>
        ) : null}
      </div>
      {runs.length > 0 ? (
        <>
          <RunChart runs={runs} />
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
                  <th class="hide-narrow">reason</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((r) => (
                  <tr data-run={r.id} data-outcome={r.outcome}>
                    <td>{r.started_at.replace("T", " ").replace(/\.\d+Z$/, "Z")}</td>
                    <td>{r.trigger}</td>
                    <td class={`o-${r.outcome}`}>{r.outcome}</td>
                    <td>{formatDuration(r.duration_ms)}</td>
                    <td class="hide-narrow">{formatBytes(r.peak_rss_bytes)}</td>
                    <td>
                      <code>{r.version ?? "-"}</code>
                    </td>
                    <td class="hide-narrow">{r.reason ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : (
        <p class="muted">no runs reported yet</p>
      )}
    </section>
  );
};

export const StatusPage: FC<{
  datasets: readonly { dataset: AdminDataset; runs: readonly RunRecord[] }[];
  csrf: string;
  flash?: string;
  refreshSeconds?: number;
  /** The watchdog's last alert about the compute side as a whole. */
  schedulerAlert?: Alert | null;
}> = ({ datasets, csrf, flash, refreshSeconds, schedulerAlert = null }) => (
  <Layout title="edgesnap status" refreshSeconds={refreshSeconds}>
    <header>
      <h1>edgesnap</h1>
      <form method="post" action="/admin/logout">
        <CsrfField token={csrf} />
        <button type="submit" data-action="sign-out">Sign out</button>
      </form>
    </header>
    {flash ? (
      <p class="flash" role="status" data-field="flash">
        {flash}
      </p>
    ) : null}
    <LastAlert alert={schedulerAlert} />
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
          {datasets.map(({ dataset }) => (
            <tr data-dataset={dataset.name}>
              <td>
                <a href={`#ds-${dataset.name}`}>{dataset.name}</a>
                {dataset.pinned ? " 📌" : ""}
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
    {datasets.length === 0 ? <p class="muted">no datasets yet</p> : null}
    {datasets.map(({ dataset, runs }) => (
      <DatasetSection dataset={dataset} runs={runs} csrf={csrf} />
    ))}
  </Layout>
);
