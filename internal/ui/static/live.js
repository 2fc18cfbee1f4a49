// Live refresh of a host page and of a rollout page: poll the page's JSON
// endpoint (data-live) and replace parts of the page with HTML rendered
// and escaped by the server's own templates. Both pages read fine without
// this script.
(function () {
  "use strict";
  var host = document.getElementById("host");
  var rollout = document.getElementById("rollout");
  var root = host || rollout;
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-live");
  var every = host ? 5000 : 2000;
  var shown = {}; // element id → the HTML last put there
  function put(id, html) {
    var el = document.getElementById(id);
    if (!el || typeof html !== "string" || shown[id] === html) { return; }
    el.innerHTML = html;
    shown[id] = html;
  }
  function badge(id, text, cls) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; el.className = "badge " + cls; }
  }
  function applyHost(d) {
    var seen = document.getElementById("last-seen");
    seen.textContent = d.last_seen_text;
    seen.setAttribute("datetime", d.last_seen);
    seen.setAttribute("title", d.last_seen_full);
    badge("status", d.status, d.status);
    put("timeline-rows", d.timeline_html);
  }
  function applyRollout(d) {
    badge("rollout-state", d.state, "r-" + d.state);
    document.getElementById("rollout-status").textContent = d.status;
    put("run-rows", d.hosts_html);
    put("counts", d.counts_html);
    put("actions", d.actions_html);
    put("failures", d.failures_html);
  }
  function poll() {
    if (document.hidden) { setTimeout(poll, every); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); throw new Error("signed out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (d) {
        if (host) { applyHost(d); } else { applyRollout(d); }
        root.setAttribute("data-updated", String(Date.now()));
        setTimeout(poll, every);
      })
      .catch(function () { setTimeout(poll, every * 3); });
  }
  setTimeout(poll, every);
})();
