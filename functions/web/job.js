/* The job panel: follows one task from the API's answer to its end — queued, running (step i/N on a
 * progress bar, elapsed and time left from measured runs), then the result, the failure in words, or
 * canceled — and offers Cancel meanwhile. Each error is said once: a request the API refused goes to the
 * page's alert (with its code and a hint), a task that failed is said on the panel, next to the job.
 * Extends window.Soul (common.js). */
"use strict";

(function () {
  const { api, showError, sleep, user, seconds } = window.Soul;
  const POLL_MS = 300;

  function describeStatus(task) {
    const { step, total } = task.progress;
    switch (task.status) {
      case "queued":
        return "Queued: waiting for a worker…";
      case "running":
        if (task.cancel_requested) return `Canceling… (stopped at step ${step}/${total})`;
        return total ? `Running: step ${step}/${total} (${Math.round((100 * step) / total)}%)` : "Running…";
      case "succeeded":
        return total ? `Done: step ${total}/${total}.` : "Done.";
      case "failed":
        return `Failed: ${task.error ? task.error.message : "no reason given"}`;
      case "canceled":
        return total ? `Canceled at step ${step}/${total}.` : "Canceled.";
      default:
        return task.status;
    }
  }

  /* Elapsed and time left, from the task's measured timing (never a made-up figure). */
  function describeTiming(task) {
    const t = task.timing;
    if (!t) return "";
    switch (task.status) {
      case "queued":
        return `Waiting ${seconds(t.queued_seconds)} for a worker.`;
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

  /* One task at a time per panel. `root` holds [data-status], [data-progress] and [data-cancel].
   * `onResult(variant, info)` receives the ready variant (cache hit or finished task). */
  class JobPanel {
    constructor(root, label, onResult) {
      this.root = root;
      this.label = label;
      this.current = label;
      this.onResult = onResult;
      this.statusEl = root.querySelector("[data-status]");
      this.bar = root.querySelector("[data-progress]");
      this.timingEl = root.querySelector("[data-timing]");
      if (!this.timingEl) {
        this.timingEl = document.createElement("p");
        this.timingEl.className = "hint timing";
        this.timingEl.dataset.timing = "";
        this.statusEl.after(this.timingEl);
      }
      this.cancelButton = root.querySelector("[data-cancel]");
      this.run = 0;
      this.taskId = null;
      this.cancelButton.addEventListener("click", () => this.cancel());
    }

    say(text, state) {
      // Only on change: re-setting the same words would make screen readers announce them again.
      if (this.statusEl.textContent !== text) this.statusEl.textContent = text;
      this.root.dataset.state = state;
    }

    progress(step, total) {
      this.bar.hidden = false;
      if (total) {
        this.bar.max = total;
        this.bar.value = step;
        this.bar.setAttribute("aria-valuetext", `step ${step} of ${total}`);
      } else {
        this.bar.removeAttribute("value"); // indeterminate while queued
        this.bar.setAttribute("aria-valuetext", "waiting");
      }
    }

    /* Stop following the current task (it goes on on the server) and show `text`. */
    reset(text) {
      this.run++;
      this.taskId = null;
      this.cancelButton.hidden = true;
      this.bar.hidden = true;
      this.timingEl.textContent = "";
      this.say(text, "idle");
    }

    /* `label` names this task in messages ("Selfie failed: …"); the panel's own label by default. */
    async start(request, label) {
      const run = ++this.run;
      this.current = label || this.label;
      this.owner = user(); // the task is this user's, even if the field changes while it runs
      this.taskId = null;
      this.cancelButton.hidden = true;
      this.bar.hidden = true;
      this.timingEl.textContent = "";
      delete this.root.dataset.errorCode;
      this.say("Sending the request…", "sending");
      this.root.dispatchEvent(new CustomEvent("soul:job-start", { bubbles: true }));
      let answer;
      try {
        answer = await request();
      } catch (err) {
        if (run === this.run) this.fail(err);
        return;
      }
      if (run !== this.run) return;
      const { status, data } = answer;
      if (status === 200 && data.variant) {
        this.say(data.cache_hit ? "Ready: served from the cache (a variant you had not seen)." : "Ready.", "succeeded");
        this.onResult(data.variant, { cacheHit: data.cache_hit, taskId: null });
        return;
      }
      this.taskId = data.task_id;
      this.root.dataset.task = data.task_id;
      this.cancelButton.hidden = false;
      this.cancelButton.disabled = false;
      this.poll(run, data.task_id); // not awaited: the form is free again once the task exists
    }

    async poll(run, taskId) {
      let misses = 0;
      while (run === this.run) {
        let task;
        try {
          task = (await api("GET", `/tasks/${taskId}`, { query: { user_id: this.owner } })).data;
          misses = 0;
        } catch (err) {
          if (run !== this.run) return;
          if (++misses < 3 && err.code === "network") {
            await sleep(POLL_MS * 3);
            continue;
          }
          this.fail(err);
          return;
        }
        if (run !== this.run) return;
        const terminal = ["succeeded", "failed", "canceled"].includes(task.status);
        const queued = task.status === "queued";
        this.progress(queued ? 0 : task.progress.step, queued ? 0 : task.progress.total);
        this.say(describeStatus(task), task.status);
        const timing = describeTiming(task);
        if (this.timingEl.textContent !== timing) this.timingEl.textContent = timing;
        if (terminal) {
          this.cancelButton.hidden = true;
          this.bar.hidden = !task.progress.total; // no steps were ever reported (e.g. failed before starting)
          // A failed task is said once, on this panel ("Failed: <reason>"), not again in the alert.
          if (task.status === "succeeded") this.onResult(task.result, { cacheHit: false, taskId });
          if (task.status === "failed") this.root.dataset.errorCode = (task.error && task.error.code) || "failed";
          return;
        }
        await sleep(POLL_MS);
      }
    }

    async cancel() {
      if (!this.taskId) return;
      this.cancelButton.disabled = true;
      try {
        await api("DELETE", `/tasks/${this.taskId}`, { query: { user_id: this.owner } });
        this.say("Cancel requested…", "canceling");
      } catch (err) {
        showError(err, `Canceling the ${this.current.toLowerCase()}`);
        this.cancelButton.disabled = false;
      }
    }

    fail(err) {
      this.cancelButton.hidden = true;
      this.bar.hidden = true;
      this.timingEl.textContent = "";
      // A field the API refused is said next to that field of the form being sent (fields.js), not at the top.
      const sending = document.querySelector('form[aria-busy="true"]');
      if (sending && window.Soul.fields && window.Soul.fields.showApiError(sending, err)) {
        this.say("Not sent: see the message next to the field.", "failed");
        return;
      }
      this.say("Not done: see the message at the top of the page.", "failed");
      showError(err, this.current);
    }
  }

  window.Soul.JobPanel = JobPanel;
})();
