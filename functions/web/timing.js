/* The words for a task's place in line and its times, the same on every page (the job panel, the runs
 * list, the detail dialog): one estimate everywhere. Figures come from the API's `timing` (measured runs
 * and the real queue, functions/tasks.py); where nothing was measured it says so instead of a number.
 * Extends window.Soul (common.js). */
"use strict";

(function () {
  const { seconds } = window.Soul;

  function ordinal(n) {
    const tail = n % 100 >= 11 && n % 100 <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
    return `${n}${tail}`;
  }

  /* A queued task's place, from the real queue: "2nd in line (1 ahead, 1 running)". */
  function queueWords(task) {
    const t = task.timing || {};
    if (task.status !== "queued" || !t.queue_position) return "";
    const ahead = t.queue_position - 1;
    const running = t.running_in_lane ? `, ${t.running_in_lane} running` : "";
    return `${ordinal(t.queue_position)} in line (${ahead} ahead${running})`;
  }

  /* The API's basis in a user's words: the configured first guess names a server setting (operator words),
   * so the page says only what it is. The same words before a run (Transform to GIF) and during it. */
  function basisWords(basis) {
    return basis.startsWith("no run measured yet") ? "a first guess until a run is measured here" : basis;
  }

  /* Elapsed and time left, from the task's measured timing (never a made-up figure). */
  function describeTiming(task) {
    const raw = task.timing;
    if (!raw) return "";
    const t = { ...raw, basis: basisWords(raw.basis || "") };
    switch (task.status) {
      case "queued": {
        const waited = `Waiting ${seconds(t.queued_seconds)}`;
        if (t.estimate_seconds === null || t.start_in_seconds === null || t.start_in_seconds === undefined) {
          return `${waited} · no estimate: ${t.basis}.`;
        }
        const start = t.start_in_seconds > 0 ? `starts in about ${seconds(t.start_in_seconds)}` : "starts when a worker takes it";
        return `${waited} · ${start}, done about ${seconds(t.start_in_seconds + t.estimate_seconds)} from now (${t.basis}).`;
      }
      case "running": {
        const ran = t.run_seconds || 0;
        if (t.estimate_seconds === null) return `${seconds(ran)} elapsed · no time left to give: ${t.basis}.`;
        const left = t.estimate_seconds - ran;
        const rest = left > 0 ? `about ${seconds(left)} left` : `longer than the usual ${seconds(t.estimate_seconds)}`;
        return `${seconds(ran)} elapsed · ${rest} (${t.basis}).`;
      }
      case "succeeded":
        return `Took ${seconds(t.run_seconds)} (waited ${seconds(t.queued_seconds)} in the queue).`;
      default:
        return t.run_seconds === null ? "" : `Ran ${seconds(t.run_seconds)}.`;
    }
  }

  window.Soul.basisWords = basisWords;
  window.Soul.queueWords = queueWords;
  window.Soul.timingWords = describeTiming;
})();
