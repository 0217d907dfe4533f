/* The runs view: every run of this user, newest first — the tasks they sent and the results served to
 * them from the cache (marked so) — with inputs, status, queued / ran times, a queued run's place in
 * line, live progress with elapsed and time left (the job panel's words: one estimate everywhere), a
 * thumbnail of the output, the error in words, and Cancel on a run still going; each opens the detail
 * dialog (detail.js). Live while anything is queued or running; "Show older runs" pages on.
 * Uses window.Soul (common.js, job.js). */
"use strict";

(function () {
  const S = window.Soul;
  const { el, seconds } = S;
  const PAGE = 20;
  const MAX = 200; // GET /tasks answers at most this many
  const LIVE_MS = 2000; // each poll serializes up to PAGE tasks (one variant read per finished one)
  let limit = PAGE;
  let timer = null;
  let firstShown = null; // ms from navigation to the first rows on screen (read by the browser tests)

  const KINDS = { image: "image", selfie: "selfie", svd: "animated image", wan: "Wan video" };

  function thumb(task) {
    const r = task.result;
    const src = r && (r.urls.png || r.urls.gif);
    if (src) return el("img", { className: "thumb", src: S.url(src), alt: "", loading: "lazy", width: 72, height: 72 });
    return el("span", { className: "thumb", "aria-hidden": "true", text: task.status === "failed" ? "✕" : "…" });
  }

  function state(task) {
    const t = task.timing || {};
    const { step, total } = task.progress;
    if (task.served_from_cache && task.status === "succeeded") return "Served from the cache · no wait";
    switch (task.status) {
      case "queued": {
        const place = S.queueWords(task);
        return `Queued ${seconds(t.queued_seconds)}${place ? ` · ${place}` : ""} · ${S.timingWords(task).replace(/^Waiting [^·]*· /, "")}`;
      }
      case "running": {
        const ran = t.run_seconds || 0;
        const left = t.estimate_seconds === null ? "no measured run of this size yet" : t.estimate_seconds > ran ? `about ${seconds(t.estimate_seconds - ran)} left` : "taking longer than usual";
        return `Running${total ? ` step ${step}/${total}` : ""} · ${seconds(ran)} elapsed · ${left}`;
      }
      case "succeeded":
        return `Succeeded · queued ${seconds(t.queued_seconds)} · ran ${seconds(t.run_seconds)}`;
      case "failed":
        return `Failed: ${S.failure(task)}`;
      case "canceled":
        return task.error ? `Canceled: ${task.error.message}` : "Canceled";
      default:
        return task.status;
    }
  }

  function row(task) {
    const spec = task.spec || { soul_id: "?", cue: task.task_id };
    const origin = task.served_from_cache ? " · from the cache" : "";
    const meta = `${spec.soul_id} · ${KINDS[task.kind] || task.kind}${origin} · ${S.ago(task.requested_at || task.created_at)}`;
    const main = el(
      "span",
      { className: "run-main" },
      el("span", { className: "run-title", text: spec.cue || spec.prompt }),
      el("span", { className: "run-meta", text: meta }),
      el("span", { className: "run-state", text: state(task) }),
    );
    if (task.status === "running" && task.progress.total) {
      main.append(el("progress", { max: task.progress.total, value: task.progress.step, "aria-hidden": "true" }));
    }
    const link = el("a", { href: `#task=${task.task_id}` }, thumb(task), main);
    const item = el("li", { className: "run", "data-task": task.task_id, "data-status": task.status }, link);
    if (task.served_from_cache) item.dataset.cached = "";
    if ((task.status === "queued" || task.status === "running") && !task.cancel_requested) {
      const cancel = el("button", { type: "button", className: "run-cancel", text: "Cancel", "aria-label": `Cancel ${spec.cue || "this run"}` });
      cancel.addEventListener("click", () => cancelRun(task.task_id, cancel));
      item.append(cancel);
    }
    return item;
  }

  /* For this user only: a job others asked for too goes on for them (DELETE /tasks/{id}). */
  async function cancelRun(taskId, button) {
    button.disabled = true;
    try {
      await S.api("DELETE", `/tasks/${encodeURIComponent(taskId)}`, { query: { user_id: S.user() } });
    } catch (err) {
      S.showError(err, "Canceling the run");
      button.disabled = false;
      return;
    }
    load();
  }

  async function load() {
    clearTimeout(timer);
    const uid = S.user();
    const summary = document.getElementById("runs-summary");
    let tasks;
    try {
      tasks = (await S.api("GET", "/tasks", { query: { user_id: uid, limit: Math.min(limit + 1, MAX) } })).data.tasks;
    } catch (err) {
      summary.textContent = `Could not load the runs: ${err.message}`;
      timer = setTimeout(load, LIVE_MS * 5);
      return;
    }
    const shown = tasks.slice(0, limit);
    const list = document.getElementById("runs");
    const focused = document.activeElement && document.activeElement.closest(".run");
    list.replaceChildren(...shown.map(row));
    if (focused) list.querySelector(`[data-task="${focused.dataset.task}"] a`)?.focus();
    const cached = shown.filter((t) => t.served_from_cache).length;
    const more = document.getElementById("runs-more");
    more.hidden = tasks.length <= limit || limit >= MAX;
    const active = shown.filter((t) => t.status === "queued" || t.status === "running").length;
    const fromCache = cached ? ` (${cached} served from the cache)` : "";
    const words = shown.length
      ? `${uid}: ${shown.length} run${shown.length === 1 ? "" : "s"}${fromCache} shown, newest first${active ? `, ${active} in progress (live)` : ""}.`
      : `${uid} has no runs yet: make one on the Images or Video page.`;
    if (summary.textContent !== words) summary.textContent = words; // a live region: said only when it changes
    if (firstShown === null) {
      firstShown = performance.now();
      document.body.dataset.firstView = String(Math.round(firstShown));
    }
    if (active && !document.hidden) timer = setTimeout(load, LIVE_MS);
  }

  function init() {
    S.initUser();
    S.loadInfo();
    document.getElementById("runs-more").addEventListener("click", () => {
      limit = Math.min(limit + PAGE, MAX);
      load();
    });
    document.addEventListener("soul:user", () => {
      limit = PAGE;
      load();
    });
    document.addEventListener("soul:runs-changed", () => setTimeout(load, 200));
    document.addEventListener("visibilitychange", () => !document.hidden && load());
    load();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
