/**
 * The status page's stylesheet and its one script, served by the Worker from these strings (no
 * build step) at /admin/assets/: the CSP allows only same-origin files, no inline script or style.
 *
 * The script is what holds the session's second half (edge/status-page/session.ts): it keeps the
 * origin key in localStorage, sends it in X-Edgesnap-Key with every request for a view or an
 * action, and puts the view the Worker renders into the page. A navigation (a reload, a link, a
 * bookmark) loads the empty shell, whose script then asks for the view with the key. It sends the
 * key to this origin only; the CSP's connect-src would refuse any other.
 */

/** Where the assets are served, under /admin. */
export const ASSET_PATHS = { script: "/admin/assets/page.js", style: "/admin/assets/page.css" } as const;

export const PAGE_CSS = `
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--muted:#6e7781;--line:#d0d7de;--mem:#0969da;--gray:#8c959f}
*{box-sizing:border-box}body{font:15px/1.4 system-ui,-apple-system,sans-serif;margin:0 auto;max-width:1100px;padding:12px}
h1{font-size:1.3rem;margin:0}h1 a{color:inherit;text-decoration:none}h2{font-size:1.1rem;margin:0 0 6px}h3{font-size:1rem;margin:16px 0 6px}
header{display:flex;justify-content:space-between;align-items:center;gap:8px;margin-bottom:12px;flex-wrap:wrap}
.flash{padding:8px 12px;border:1px solid var(--line);border-radius:6px;margin:8px 0}.flash.error{border-color:var(--bad)}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
td.wrap{white-space:normal;min-width:12em}th{font-size:.8rem;color:var(--muted);font-weight:600}
section.dataset{border:1px solid var(--line);border-radius:8px;padding:12px;margin:16px 0}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}.actions form{display:flex;gap:6px;align-items:center;margin:0}
td form{margin:0}
button,select,input{font:inherit;padding:6px 10px;border-radius:6px;border:1px solid var(--line)}button{cursor:pointer}button:disabled{opacity:.6}
.o-ok{color:var(--ok)}.o-failed,.o-timed-out,.o-memory-killed,.o-rejected{color:var(--bad)}.o-unchanged,.o-cancelled{color:var(--muted)}
.muted{color:var(--muted)}
figure.chart{margin:8px 0}figure.chart svg{display:block;width:100%;height:90px;border:1px solid var(--line);border-radius:4px}
.chart-scale,.chart-times{display:flex;justify-content:space-between;gap:8px;font-size:.75rem;color:var(--muted)}figure.chart figcaption{font-size:.75rem;color:var(--muted)}
.chart .bar-ok{fill:var(--ok)}.chart .bar-unchanged{fill:var(--gray)}.chart .bar-failed{fill:var(--bad)}
.chart .mem{fill:none;stroke:var(--mem);stroke-width:2}.chart .mem-dot{stroke:var(--mem);stroke-width:7;stroke-linecap:round}.chart .axis{stroke:currentColor;stroke-opacity:.25}
.legend-mem{color:var(--mem)}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:.8rem;font-weight:600;color:#fff;background:var(--bad)}.badge.fresh{background:var(--ok)}.badge.plain{background:var(--gray)}
.alert{border-left:4px solid var(--bad);padding:4px 8px;margin:6px 0}.alert.recovered{border-color:var(--ok)}
ul.plain{list-style:none;padding:0;margin:0}
[hidden]{display:none !important}
@media (max-width:600px){body{padding:8px}th,td{padding:3px 5px}.hide-narrow{display:none}}
`;

export const PAGE_SCRIPT = `"use strict";
(function () {
  var KEY = "edgesnap-admin-key";
  var HEADER = "X-Edgesnap-Key";
  var refreshTimer = 0;

  function storedKey() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function forgetKey() {
    try { localStorage.removeItem(KEY); } catch (e) {}
  }
  function sameOrigin(url) {
    return new URL(url, location.href).origin === location.origin;
  }
  function signInForm() { return document.getElementById("sign-in"); }
  function view() { return document.getElementById("view"); }

  function showSignIn(message) {
    clearTimeout(refreshTimer);
    var form = signInForm();
    var current = view();
    if (current) current.replaceChildren();
    if (!form) return;
    form.hidden = false;
    var error = document.getElementById("sign-in-error");
    error.textContent = message || "";
    error.hidden = !message;
    var input = form.querySelector("input[name=token]");
    if (input) input.focus();
  }

  function showError(message) {
    var banner = document.getElementById("page-error");
    banner.textContent = message;
    banner.hidden = false;
  }

  async function errorMessage(response) {
    try {
      var body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) {}
    return "the Worker answered " + response.status;
  }

  function render(html) {
    var parsed = new DOMParser().parseFromString(html, "text/html");
    var next = parsed.getElementById("view");
    if (!next) return showError("the Worker's answer has no view");
    document.title = parsed.title;
    signInForm().hidden = true;
    document.getElementById("page-error").hidden = true;
    view().replaceWith(document.importNode(next, true));
    clearTimeout(refreshTimer);
    var seconds = Number(next.getAttribute("data-refresh-seconds"));
    if (seconds > 0) refreshTimer = setTimeout(function () { load(location.href, {}, "replace"); }, seconds * 1000);
  }

  async function load(url, init, mode) {
    var key = storedKey();
    if (!key) return showSignIn();
    if (!sameOrigin(url)) return showError("refused to send the session to another origin");
    var headers = new Headers(init.headers || {});
    headers.set(HEADER, key);
    var response;
    try {
      response = await fetch(url, { method: init.method || "GET", body: init.body, headers: headers, credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      return showError("the Worker did not answer: " + e.message);
    }
    if (response.status === 401) {
      forgetKey();
      return showSignIn(await errorMessage(response));
    }
    if (!(response.headers.get("Content-Type") || "").startsWith("text/html")) return showError(await errorMessage(response));
    render(await response.text());
    // fetch drops the fragment (an alert links to #ds-<name>): keep it when the view is the one asked for.
    var hash = new URL(url, location.href).hash;
    var shown = response.url + (response.url === new URL(url, location.href).href.split("#")[0] ? hash : "");
    if (mode === "push" && shown !== location.href) history.pushState(null, "", shown);
    else history.replaceState(null, "", shown);
    var target = hash ? document.getElementById(decodeURIComponent(hash.slice(1))) : null;
    if (target) target.scrollIntoView();
  }

  async function signIn(form) {
    var response;
    try {
      response = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" });
    } catch (e) {
      return showSignIn("the Worker did not answer: " + e.message);
    }
    if (!response.ok) return showSignIn(await errorMessage(response));
    var body = await response.json();
    try { localStorage.setItem(KEY, body.key); } catch (e) { return showSignIn("this browser keeps no local storage for this page, which its session needs"); }
    form.reset();
    await load(location.pathname + location.search, {}, "replace");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    event.preventDefault();
    if (form.id === "sign-in") { signIn(form); return; }
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    load(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)) }, "push").then(function () {
      if (form.isConnected) form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
      if (form.getAttribute("data-signs-out") !== null) { forgetKey(); showSignIn(); }
    });
  });

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[data-view]") : null;
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    load(link.href, {}, "push");
  });

  window.addEventListener("popstate", function () { load(location.href, {}, "replace"); });
  load(location.href, {}, "replace");
})();
`;
