/* The gallery: the visual view of the runs list (one history, docs/PLAYGROUND.md): the output of each of
 * this user's finished runs — made for them or served to them from the cache (marked so) — newest first,
 * as a grid with label, soul, kind and time, filterable by soul and kind; each opens the run's detail
 * dialog (detail.js), at the same `#task=` link the Runs page uses. Uses window.Soul (common.js). */
"use strict";

(function () {
  const S = window.Soul;
  const { el } = S;
  const KINDS = { image: "image", selfie: "selfie", svd: "animated image", wan: "Wan video" };
  const READ = 60; // runs read (GET /tasks, newest first); the failed and canceled ones have no picture
  let runs = [];
  let more = false;

  function tile(task) {
    const v = task.result;
    const src = S.url(v.urls.png || v.urls.gif);
    const media = src ? el("img", { src, alt: "", loading: "lazy" }) : el("span", { className: "thumb", text: "MP4" });
    const origin = task.served_from_cache ? "from the cache" : "made for you";
    const meta = `${v.soul_id} · ${KINDS[v.kind] || v.kind} · ${origin} ${S.ago(task.requested_at || v.created_at)}`;
    const link = el(
      "a",
      { href: `#task=${task.task_id}`, "aria-label": `${v.label || v.variant_id} (${meta})` },
      media,
      el("span", { className: "label", text: v.label || v.variant_id }),
      el("span", { className: "meta", text: meta }),
    );
    const item = el("li", { "data-variant": v.variant_id, "data-task": task.task_id, "data-kind": v.kind, "data-soul": v.soul_id }, link);
    if (task.served_from_cache) item.dataset.cached = "";
    return item;
  }

  function show() {
    const soul = document.getElementById("filter-soul").value;
    const kind = document.getElementById("filter-kind").value;
    const shown = runs.filter((t) => (!soul || t.result.soul_id === soul) && (!kind || t.result.kind === kind));
    document.getElementById("gallery").replaceChildren(...shown.map(tile));
    const uid = S.user();
    const filtered = soul || kind ? " matching the filter" : "";
    const newest = more ? ` (from the newest ${READ} runs)` : "";
    document.getElementById("gallery-summary").textContent = runs.length
      ? `${shown.length} result${shown.length === 1 ? "" : "s"}${filtered} from ${uid}'s runs${newest}.`
      : `${uid} has no finished runs yet: make one on the Images or Video page.`;
  }

  async function load() {
    const uid = S.user();
    try {
      const { data } = await S.api("GET", "/tasks", { query: { user_id: uid, limit: READ } });
      runs = data.tasks.filter((t) => t.status === "succeeded" && t.result);
      more = data.tasks.length >= READ;
    } catch (err) {
      document.getElementById("gallery-summary").textContent = `Could not load the gallery: ${err.message}`;
      return;
    }
    const select = document.getElementById("filter-soul");
    const chosen = select.value;
    const souls = [...new Set(runs.map((t) => t.result.soul_id))].sort();
    select.replaceChildren(el("option", { value: "", text: "All souls" }), ...souls.map((s) => el("option", { value: s, text: s })));
    select.value = souls.includes(chosen) ? chosen : "";
    show();
  }

  function init() {
    S.initUser();
    S.loadInfo();
    document.getElementById("gallery-filters").addEventListener("change", show);
    document.getElementById("gallery-filters").addEventListener("submit", (e) => e.preventDefault());
    document.addEventListener("soul:user", load);
    document.addEventListener("soul:runs-changed", () => setTimeout(load, 200));
    load();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
