// Live refresh of a host page: poll the page's JSON endpoint and replace
// the status, last-seen and timeline rows (HTML rendered and escaped by the
// server's own template). The page reads fine without this script.
(function () {
  "use strict";
  var root = document.getElementById("host");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-live");
  var every = 5000;
  var last = "";
  function apply(d) {
    var seen = document.getElementById("last-seen");
    seen.textContent = d.last_seen_text;
    seen.setAttribute("datetime", d.last_seen);
    seen.setAttribute("title", d.last_seen_full);
    var st = document.getElementById("status");
    st.textContent = d.status;
    st.className = "badge " + d.status;
    if (d.timeline_html !== last) {
      document.getElementById("timeline-rows").innerHTML = d.timeline_html;
      last = d.timeline_html;
    }
    root.setAttribute("data-updated", String(Date.now()));
  }
  function poll() {
    if (document.hidden) { setTimeout(poll, every); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); throw new Error("signed out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (d) { apply(d); setTimeout(poll, every); })
      .catch(function () { setTimeout(poll, every * 3); });
  }
  last = document.getElementById("timeline-rows").innerHTML;
  setTimeout(poll, every);
})();
