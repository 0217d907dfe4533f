/* The status view: queue depth per lane, jobs by status and the cache hit rate, straight from
 * GET /tasks/stats/summary, refreshed every few seconds while the page is visible. Used as a section on
 * both pages and on its own at /status. */
"use strict";

(function () {
  const REFRESH_MS = 2000;
  const table = (caption, rows) => window.Soul.table(caption, rows, "key"); // common.js

  function render(root, stats) {
    const cache = stats.cache || {};
    const rate = typeof cache.hit_rate === "number" ? `${(cache.hit_rate * 100).toFixed(1)}%` : "–";
    const grid = root.querySelector("[data-stats-grid]");
    grid.replaceChildren(
      table("Queued per lane", Object.entries(stats.queued_by_lane)),
      table("Jobs by status", Object.entries(stats.jobs_by_status)),
      table("Cache", [
        ["hit rate", rate],
        ["hits", cache.hits ?? 0],
        ["misses", cache.misses ?? 0],
        ["variants stored", stats.variants],
      ]),
    );
    root.dataset.hitRate = rate;
    const stamp = root.querySelector("[data-stats-updated]");
    stamp.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s.`;
  }

  function initStats(root) {
    const stamp = root.querySelector("[data-stats-updated]");
    let timer = null;
    async function refresh() {
      clearTimeout(timer);
      try {
        render(root, (await window.Soul.api("GET", "/tasks/stats/summary")).data);
        root.dataset.state = "ok";
      } catch (err) {
        // Not the page's alert region: a polling widget would otherwise repeat the same alert forever.
        root.dataset.state = "error";
        stamp.textContent = `Status unavailable: ${err.message} (${err.code}). Retrying…`;
      }
      if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh();
    });
    const button = root.querySelector("[data-stats-refresh]");
    if (button) button.addEventListener("click", refresh);
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const root of document.querySelectorAll("[data-stats]")) initStats(root);
    if (document.body.dataset.page === "status") window.Soul.loadInfo();
  });
})();
