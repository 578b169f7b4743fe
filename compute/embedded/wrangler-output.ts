/**
 * What `npm start` shows of wrangler dev's output. Left out unless asked for (EDGESNAP_DEBUG, or
 * `npm start -- --verbose`):
 * - one line per request (every storage call of every run goes through the local Worker);
 * - the offline noise: wrangler's failed fetch of the `Request.cf` object and its stack trace
 *   (these machines have no internet; the Worker uses a placeholder and works);
 * - the banner telling to `curl /cdn-cgi/local/scheduled`: npm start fires the Worker's cron
 *   itself, through `/cdn-cgi/handler/scheduled` (shown with the advice when asked for);
 * - "Ready on ...": npm start says when it is ready, once its own token works.
 * Everything else (warnings, errors, the Worker's own console output, a crashed runtime) is shown.
 * The filter is a small state machine over lines, pure, so it is tested line by line.
 */

export interface WranglerLineFilter {
  /** The lines to show for one line of wrangler's output (none, the line, or a note after it). */
  (line: string): string[];
}

/** wrangler colours its banners even with NO_COLOR; the filter reads and prints plain text. */
export function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

const REQUEST_LINE = /^\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ \d{3}\b/;
const READY_LINE = /^\[wrangler:info\] (Updated and )?[Rr]eady on /;
const CF_FETCH_WARNING = /^\[wrangler:warn\] Unable to fetch the `Request\.cf` object/;
const OFFLINE_ERROR = /^(Error|TypeError|FetchError)\b.*(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ENETUNREACH|ETIMEDOUT|fetch failed)/;
const STACK_FRAME = /^\s+at\s/;
const SCHEDULED_WARNING = /Scheduled Workers are not automatically triggered during local development/;
/** The lines of the scheduled banner after its first: indented advice, the curl line, the link. */
const SCHEDULED_DETAIL = /^\s+(To manually trigger|curl\s|For more details)/;

/** Shown after wrangler's cron advice, when it is shown at all: what actually fires the cron here. */
export const SCHEDULED_NOTE =
  "edgesnap: npm start runs the Worker's cron itself every minute through /cdn-cgi/handler/scheduled (EDGESNAP_LOCAL_CRON_INTERVAL_MS); /cdn-cgi/local/scheduled does not run it";

/**
 * Creates a filter. With `verbose`, every line is shown, and the cron advice is followed by the
 * right one.
 */
export function createWranglerLineFilter(options: { verbose?: boolean } = {}): WranglerLineFilter {
  /** Inside a block being left out: the cf warning's stack trace, or the scheduled banner. */
  let skipping: "offline" | "scheduled" | null = null;
  return function filterWranglerLine(raw: string): string[] {
    const line = stripAnsi(raw);
    if (skipping === "offline" && (OFFLINE_ERROR.test(line) || STACK_FRAME.test(line))) return options.verbose ? [line] : [];
    if (skipping === "scheduled" && SCHEDULED_DETAIL.test(line)) {
      if (!options.verbose) return [];
      // The right advice right after the wrong one.
      return /^\s+curl\s/.test(line) ? [line, SCHEDULED_NOTE] : [line];
    }
    skipping = null;
    if (CF_FETCH_WARNING.test(line)) {
      skipping = "offline";
      return options.verbose ? [line] : [];
    }
    if (SCHEDULED_WARNING.test(line)) {
      skipping = "scheduled";
      return options.verbose ? [line] : [];
    }
    if (options.verbose) return [line];
    return REQUEST_LINE.test(line) || READY_LINE.test(line) ? [] : [line];
  };
}
