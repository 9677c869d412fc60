// The status page (status_page.h): one self-contained HTML document, no external assets. Its
// script polls /api/status, /api/peers and /api/jobs every two seconds and fills the tables;
// every value is inserted as text (never as HTML), so names from peers cannot inject markup.
#include "status_page.h"

namespace synapse::daemon {

std::string_view status_page_html() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Synapse node</title>
<style>
  :root { color-scheme: light dark; --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; max-width: 1200px; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
  .sub { color: GrayText; margin-bottom: 1rem; }
  .cards { display: flex; flex-wrap: wrap; gap: .8rem; }
  .card { border: 1px solid #8884; border-radius: 8px; padding: .6rem .9rem; min-width: 9rem; }
  .card b { display: block; font-size: 1.3rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #8883; }
  th { font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .bar { height: .6rem; background: #8883; border-radius: 4px; overflow: hidden; width: 12rem; }
  .bar span { display: block; height: 100%; background: var(--ok); }
  .ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
  #warnings li { color: var(--warn); }
  #error { color: var(--bad); }
</style>
</head>
<body>
<h1>Synapse node <span id="node-name"></span></h1>
<div class="sub"><span id="node-id"></span> &middot; up <span id="uptime"></span> &middot;
  updated <span id="updated">never</span> <span id="error"></span></div>
<ul id="warnings"></ul>

<div class="cards">
  <div class="card">Peers<b id="peer-count">&ndash;</b></div>
  <div class="card">Nodes running jobs<b id="compute-count">&ndash;</b></div>
  <div class="card">Stored<b id="store-used">&ndash;</b>
    <div class="bar"><span id="store-bar" style="width:0"></span></div>
    <small id="store-capacity"></small></div>
  <div class="card">Pinned files<b id="pinned">&ndash;</b></div>
  <div class="card">Replication<b id="replication">&ndash;</b><small id="replication-detail"></small></div>
  <div class="card">Cache<b id="cache">&ndash;</b><small id="cache-detail"></small></div>
  <div class="card">Jobs here<b id="jobs-here">&ndash;</b><small id="jobs-detail"></small></div>
</div>

<h2>Peers</h2>
<table id="peers">
  <thead><tr><th>Name</th><th>Node</th><th>Address</th><th>CPUs free</th><th>Memory</th>
    <th>GPUs</th><th>Runtimes</th><th>Load</th><th>Jobs</th><th>Reputation</th><th>Bad blocks</th>
    <th>Last seen</th></tr></thead>
  <tbody></tbody>
</table>

<h2>Recent jobs</h2>
<table id="jobs">
  <thead><tr><th>Name</th><th>State</th><th>Node</th><th>User</th><th>Tasks</th><th>Age</th>
    <th>Reason</th></tr></thead>
  <tbody></tbody>
</table>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
function bytes(n) {
  if (!(n > 0)) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
function duration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}
function text(id, value) { $(id).textContent = value; }
function row(cells) {
  const tr = document.createElement("tr");
  for (const [value, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  return tr;
}
async function get(path) {
  const response = await fetch(path, {cache: "no-store"});
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}
function showStatus(s) {
  text("node-name", s.name || "");
  text("node-id", s.node_id);
  text("uptime", duration(s.uptime_seconds));
  text("peer-count", s.transport ? s.transport.sessions_active : s.peers);
  const jobs = s.jobs || {};
  text("compute-count", jobs.nodes_advertising ?? "–");
  const store = s.store || {};
  text("store-used", bytes(store.bytes));
  text("store-capacity", "of " + bytes(store.capacity));
  const used = store.capacity ? Math.min(100, 100 * store.bytes / store.capacity) : 0;
  $("store-bar").style.width = used.toFixed(1) + "%";
  $("store-bar").style.background = used > 90 ? "var(--bad)" : used > 75 ? "var(--warn)" : "";
  text("pinned", store.pinned_roots ?? 0);
  const r = s.replication || {};
  const healthy = (r.files || 0) - (r.under_target || 0);
  text("replication", healthy + " / " + (r.files || 0) + " healthy");
  $("replication").className = r.under_target ? "warn" : "ok";
  text("replication-detail", "target " + r.target + " copies" +
       (r.missing_replicas ? ", " + r.missing_replicas + " missing" : ""));
  const cache = (s.fs || {}).cache || {};
  const reads = (cache.hits || 0) + (cache.misses || 0);
  text("cache", reads ? Math.round(100 * cache.hits / reads) + " % hits" : "no reads");
  text("cache-detail", bytes(cache.bytes) + " in " + (cache.files || 0) + " files");
  text("jobs-here", (jobs.running || 0) + " running");
  text("jobs-detail", (jobs.waiting || 0) + " waiting, " + (jobs.coordinating || 0) +
       " coordinated here");
  const warnings = $("warnings");
  warnings.replaceChildren();
  for (const w of s.warnings || []) {
    const li = document.createElement("li");
    li.textContent = w;
    warnings.appendChild(li);
  }
}
function showPeers(p) {
  const body = $("peers").tBodies[0];
  body.replaceChildren();
  for (const peer of p.peers) {
    const res = peer.resources || {};
    const tr = row([
      [res.name || "", ""],
      [peer.short_id, ""],
      [peer.address, ""],
      [res.cpus !== undefined ? res.cpus_free + " / " + res.cpus : "–", "num"],
      [res.memory !== undefined ? bytes(res.memory_free) + " / " + bytes(res.memory) : "–", "num"],
      [(res.gpus || []).length, "num"],
      [(res.runtimes || []).join(", "), ""],
      [res.load1 !== undefined ? res.load1.toFixed(2) : "–", "num"],
      [res.jobs_running !== undefined ? res.jobs_running + " running" : "–", ""],
      [peer.score.toFixed(2) + (peer.backed_off ? " (backed off)" : ""),
       peer.score < 0.3 ? "bad" : ""],
      [peer.bad_blocks || 0, peer.bad_blocks ? "bad num" : "num"],
      [peer.last_seen_seconds !== undefined ? duration(peer.last_seen_seconds) + " ago" : "", ""],
    ]);
    tr.dataset.node = peer.id;
    body.appendChild(tr);
  }
}
function showJobs(j) {
  const body = $("jobs").tBodies[0];
  body.replaceChildren();
  const jobs = (j.jobs || []).slice().sort((a, b) => (b.submitted_at_ms || 0) - (a.submitted_at_ms || 0));
  const now = Date.now();
  for (const job of jobs.slice(0, 50)) {
    const cls = {succeeded: "ok", failed: "bad", "timed-out": "bad", rejected: "bad"}[job.state] || "";
    const tr = row([
      [job.name, ""], [job.state, cls], [job.node || "", ""], [job.user || "", ""],
      [job.tasks_done + " / " + job.tasks, "num"],
      [job.submitted_at_ms ? duration((now - job.submitted_at_ms) / 1000) : "", ""],
      [job.reason || "", ""],
    ]);
    tr.dataset.state = job.state;
    body.appendChild(tr);
  }
}
async function refresh() {
  try {
    const [s, p, j] = await Promise.all([get("/api/status"), get("/api/peers"), get("/api/jobs")]);
    showStatus(s);
    showPeers(p);
    showJobs(j);
    text("updated", new Date().toLocaleTimeString());
    text("error", "");
    document.body.dataset.loaded = "true";
  } catch (e) {
    text("error", "(" + e.message + ")");
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";
}

}  // namespace synapse::daemon
