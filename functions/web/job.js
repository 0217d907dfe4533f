/* The job panel: follows one task from the API's answer to its end — queued, running (step i/N on a
 * progress bar), then the result, the failure in words, or canceled — and offers Cancel meanwhile.
 * Extends window.Soul (common.js). */
"use strict";

(function () {
  const { ApiError, api, showError, sleep, user } = window.Soul;
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
      this.say("Sending the request…", "sending");
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
        this.onResult(data.variant, { cacheHit: data.cache_hit });
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
        if (terminal) {
          this.cancelButton.hidden = true;
          this.bar.hidden = !task.progress.total; // no steps were ever reported (e.g. failed before starting)
          if (task.status === "succeeded") this.onResult(task.result, { cacheHit: false });
          if (task.status === "failed") {
            const error = task.error || { code: "failed", message: "the task failed" };
            showError(new ApiError(200, error.code, error.message), `${this.current} failed`);
          }
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
      this.say(`Failed: ${err.message}`, "failed");
      showError(err, this.current);
    }
  }

  window.Soul.JobPanel = JobPanel;
})();
