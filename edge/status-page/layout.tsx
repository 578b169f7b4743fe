/** @jsxImportSource hono/jsx */
/**
 * The frame of every status page answer (hono/jsx, rendered by the Worker; no build step): the shell
 * a navigation gets, which holds nothing but the sign-in form and the page's script, and the frame
 * of a view (the overview, a dataset's page) that the script asks for with the session's key.
 * Styles come from the page's stylesheet, never inline (the CSP allows none), and a viewport-aware
 * layout keeps it usable on a phone.
 */
import type { FC, PropsWithChildren } from "hono/jsx";
import { ASSET_PATHS } from "./assets.ts";

/** A whole HTML document; `script` loads the page's script (the shell only). */
export const Document: FC<PropsWithChildren<{ title: string; script?: boolean }>> = ({ title, script = false, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <title>{title}</title>
      <link rel="stylesheet" href={ASSET_PATHS.style} />
      {script ? <script src={ASSET_PATHS.script} defer /> : null}
    </head>
    <body>{children}</body>
  </html>
);

/**
 * What a navigation to any page under /admin gets, signed in or not: the sign-in form (shown by the
 * script when it holds no key), an error banner and an empty view, which the script fills.
 */
export const Shell: FC = () => (
  <Document title="edgesnap" script>
    <noscript>
      <p class="flash">
        The status page needs JavaScript: it keeps half of its session where only this page can read it (a cookie alone, which other sites on this host
        may receive, is not enough).
      </p>
    </noscript>
    <p id="page-error" class="flash error" role="alert" hidden />
    <form id="sign-in" method="post" action="/admin/login" class="actions" hidden>
      <header>
        <h1>edgesnap</h1>
      </header>
      <p id="sign-in-error" class="flash error" role="alert" hidden />
      <label>
        Admin token <input type="password" name="token" autocomplete="current-password" required />
      </label>
      <button type="submit">Sign in</button>
      <p class="muted">The token is checked by the Worker; this browser keeps only a session: an HttpOnly cookie and a key that only this page can read.</p>
    </form>
    <div id="view">
      <p class="muted">Loading…</p>
    </div>
  </Document>
);

/** The banner after an action: only messages of edge/status-page/flash.ts ever get here. */
export const Flash: FC<{ message?: string }> = ({ message }) =>
  message ? (
    <p class="flash" role="status" data-field="flash">
      {message}
    </p>
  ) : null;

/** The frame of a view: the header with sign-out, the banner, and the view itself. */
export const ViewFrame: FC<PropsWithChildren<{ title: string; flash?: string; refreshSeconds?: number }>> = ({ title, flash, refreshSeconds, children }) => (
  <Document title={title}>
    <div id="view" data-refresh-seconds={refreshSeconds ? String(refreshSeconds) : undefined}>
      <header>
        <h1>
          <a href="/admin" data-view>
            edgesnap
          </a>
        </h1>
        <div class="actions">
          <form method="post" action="/admin/logout">
            <button type="submit" data-action="sign-out">
              Sign out
            </button>
          </form>
          <form method="post" action="/admin/logout-everywhere">
            <button type="submit" data-action="sign-out-everywhere">
              Sign out everywhere
            </button>
          </form>
        </div>
      </header>
      <Flash message={flash} />
      {children}
    </div>
  </Document>
);
