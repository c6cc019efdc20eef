// failback console: confirm and post actions without leaving the page, follow a run's
// event stream (Server-Sent Events) to recolour its DAG and append history, filter history.
"use strict";
(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function say(text, bad) {
    var out = $("#action-result");
    if (!out) return;
    out.textContent = text;
    out.className = bad ? "error" : "";
  }

  // Actions: a confirmation, then a POST with the form's fields (its CSRF token among them).
  $$("form.action").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!window.confirm(form.getAttribute("data-confirm"))) return;
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, j: j }; });
      }).then(function (res) {
        if (res.ok) { say(res.j.action + ": done"); setRunState(res.j.state, res.j.seq); }
        else { say(res.j.error || "refused", true); }
      }).catch(function (e) { say("the request failed: " + e, true); });
    });
  });

  // The newest state shown, by the history position it reflects: the live stream and an
  // action's answer may arrive in either order, and the older must not win.
  var shownSeq = -1;
  function setRunState(state, seq) {
    var b = $("#run-state");
    if (!b || !state || seq < shownSeq) return;
    shownSeq = seq;
    b.textContent = state;
    b.className = "badge " + state;
    document.body.setAttribute("data-run-state", state);
  }

  function setStep(id, status, label) {
    $$('svg#dag g.node').forEach(function (g) {
      if (g.getAttribute("data-step") !== id) return;
      g.setAttribute("class", "node " + status);
      g.setAttribute("data-status", status);
      var t = g.querySelector("text.state"); if (t) t.textContent = status;
    });
    $$("#steps tr").forEach(function (tr) {
      if (tr.getAttribute("data-step") !== id) return;
      var td = tr.querySelector("td.status");
      if (td) { td.textContent = label; td.setAttribute("data-status", status); }
    });
  }

  function filterHistory() {
    var f = $("#history-filter");
    var q = f ? f.value.trim().toLowerCase() : "";
    $$("#history tbody tr").forEach(function (tr) {
      tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
    });
  }
  var hf = $("#history-filter");
  if (hf) hf.addEventListener("input", filterHistory);

  // Live updates of the runs list: each row's state; a run not listed asks for a reload.
  var runs = $("#runs[data-events]");
  if (runs && window.EventSource) {
    var lv = $("#live");
    var note = function (t) { var n = $("#runs-note"); if (n) n.textContent = t; };
    var ls = new EventSource(runs.getAttribute("data-events"));
    ls.onopen = function () { if (lv) lv.textContent = "live"; };
    ls.onerror = function () { if (lv) lv.textContent = "reconnecting…"; };
    ls.addEventListener("run", function (ev) {
      var d = JSON.parse(ev.data);
      var row = $$("#runs tbody tr").filter(function (tr) { return tr.getAttribute("data-run") === d.id; })[0];
      if (!row) { note("Runs changed that this list does not show: reload for them."); return; }
      row.setAttribute("data-state", d.state);
      var b = row.querySelector(".badge");
      if (b) { b.textContent = d.state; b.className = "badge " + d.state; }
    });
    ls.addEventListener("stale", function () { note("Missed some changes: reload for the latest."); });
  }

  // Live updates of a run page.
  var run = $("#run");
  var hist = $("#history");
  if (run && hist && window.EventSource) {
    var live = $("#live");
    var src = new EventSource(run.getAttribute("data-events") + "?after=" + hist.getAttribute("data-next"));
    src.onopen = function () { if (live) live.textContent = "live"; };
    src.onerror = function () { if (live) live.textContent = "reconnecting…"; };
    src.addEventListener("history", function (ev) {
      var d = JSON.parse(ev.data);
      var body = hist.querySelector("tbody");
      if (body.querySelector('tr[data-seq="' + d.seq + '"]')) return;
      body.insertAdjacentHTML("beforeend", d.html);
      filterHistory();
    });
    src.addEventListener("state", function (ev) {
      var d = JSON.parse(ev.data);
      setRunState(d.run, d.seq);
      Object.keys(d.steps).forEach(function (id) { setStep(id, d.steps[id].status, d.steps[id].label); });
      var n = $("#next"); if (n) n.textContent = d.next;
      var g = $("#guidance"); if (g) g.innerHTML = d.guidance;
    });
    src.addEventListener("end", function () { src.close(); if (live) live.textContent = "run finished"; });
    src.addEventListener("failed", function (ev) { src.close(); if (live) live.textContent = "live updates stopped: " + ev.data; });
  }
}());
