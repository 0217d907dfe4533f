/* The status page's metrics section: the key figures of GET /metrics (Prometheus text, docs/OPERATIONS.md),
 * summed over routes and lanes, refreshed every few seconds while the page is visible. Counters count
 * from the API process's start. In token mode /metrics answers administrators only. */
"use strict";

(function () {
  const REFRESH_MS = 2000;
  const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
  const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  const OUTCOMES = ["hit", "semantic_merge", "attach", "miss", "blocked", "error"];

  /** [{name, labels, value}] from the Prometheus text format. */
  function parse(text) {
    const samples = [];
    for (const line of text.split("\n")) {
      const match = line.startsWith("#") ? null : SAMPLE.exec(line);
      if (!match) continue;
      const labels = {};
      for (const [, key, value] of (match[2] || "").matchAll(LABEL)) labels[key] = value;
      samples.push({ name: match[1], labels, value: Number(match[3]) });
    }
    return samples;
  }

  function sum(samples, name, where = {}) {
    return samples
      .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0);
  }

  const table = (caption, rows) => window.Soul.table(caption, rows, "metric"); // common.js

  function byLabel(samples, name, label) {
    const out = {};
    for (const s of samples.filter((x) => x.name === name)) out[s.labels[label]] = (out[s.labels[label]] || 0) + s.value;
    return out;
  }

  function figures(samples) {
    const requests = OUTCOMES.map((o) => [o, sum(samples, "soul_requests_total", { outcome: o })]);
    const served = requests.filter(([o]) => o !== "blocked" && o !== "error").reduce((t, [, n]) => t + n, 0);
    const hits = sum(samples, "soul_requests_total", { outcome: "hit" });
    const hitCount = sum(samples, "soul_request_duration_seconds_count", { outcome: "hit" });
    const hitSum = sum(samples, "soul_request_duration_seconds_sum", { outcome: "hit" });
    const spend = sum(samples, "soul_cost_usd_total");
    const depth = byLabel(samples, "soul_queue_depth", "lane");
    const age = byLabel(samples, "soul_queue_oldest_age_seconds", "lane");
    const jobs = byLabel(samples, "soul_jobs_total", "outcome");
    return [
      table("Requests by outcome", requests),
      table("Hit path", [
        ["hit rate", served ? `${((hits / served) * 100).toFixed(1)}%` : "–"],
        ["mean hit latency", hitCount ? `${((hitSum / hitCount) * 1000).toFixed(1)} ms` : "–"],
      ]),
      table("Queue per lane (waiting, oldest)", Object.keys(depth).map((l) => [l, `${depth[l]}, ${Math.round(age[l] || 0)} s`])),
      table("Jobs by outcome", ["succeeded", "failed", "canceled", "retried"].map((o) => [o, jobs[o] || 0])),
      table("Workers and spend", [
        ["launches", sum(samples, "soul_launches_total", { outcome: "asked" })], // the cloud dispatcher's; none locally
        ["launches refused", sum(samples, "soul_launches_total", { outcome: "refused" })],
        ["dead letters", sum(samples, "soul_dead_letters_total")],
        ["estimated spend", `$${spend.toFixed(6)}`],
        ["spend per request", served ? `$${(spend / served).toFixed(6)}` : "–"],
      ]),
    ];
  }

  async function scrape() {
    const init = { headers: { Accept: "text/plain" } };
    const bearer = window.SoulAuth ? await window.SoulAuth.authorization() : null; // token mode (signin.js)
    if (bearer) init.headers.Authorization = bearer;
    const response = await fetch(window.Soul.url("/metrics"), init);
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    return parse(await response.text());
  }

  function initMetrics(root) {
    const stamp = root.querySelector("[data-metrics-updated]");
    let timer = null;
    async function refresh() {
      clearTimeout(timer);
      try {
        root.querySelector("[data-metrics-grid]").replaceChildren(...figures(await scrape()));
        root.dataset.state = "ok";
        stamp.textContent = `Since the API process started. Updated ${new Date().toLocaleTimeString()}.`;
      } catch (err) {
        root.dataset.state = "error";
        stamp.textContent = `Metrics unavailable: ${err.message}. Retrying…`;
      }
      if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh();
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const root of document.querySelectorAll("[data-metrics]")) initMetrics(root);
  });
})();
