/* The job panel: follows one task from the API's answer to its end — queued (its place in the queue and
 * when it should start), running (step i/N on a progress bar, elapsed and time left from measured runs),
 * then the result, the failure in words, or canceled — and offers Cancel and a link to the run meanwhile.
 * A screen reader hears milestones only (queued, started, halfway, the end), from a hidden live region:
 * the visible per-step line is not live. `resume(task)` picks up a task already sent (restore.js, after a
 * reload). Each error is said once: a request the API refused goes to the page's alert (with its code and
 * a hint), a task that failed is said on the panel, next to the job. Extends window.Soul (common.js,
 * timing.js). */
"use strict";

(function () {
  const { api, showError, sleep, user, el } = window.Soul;
  const { queueWords, timingWords: describeTiming } = window.Soul; // timing.js: the words every page uses
  const POLL_MS = 300;

  function describeStatus(task) {
    const { step, total } = task.progress;
    switch (task.status) {
      case "queued": {
        const place = queueWords(task);
        return place ? `Queued: ${place}.` : "Queued: waiting for a worker…";
      }
      case "running":
        if (task.cancel_requested) return `Canceling… (stopped at step ${step}/${total})`;
        return total ? `Running: step ${step}/${total} (${Math.round((100 * step) / total)}%)` : "Running…";
      case "succeeded":
        return total ? `Done: step ${total}/${total}.` : "Done.";
      case "failed":
        return `Failed: ${window.Soul.failure(task)}`;
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
      this.timingEl = root.querySelector("[data-timing]");
      if (!this.timingEl) {
        this.timingEl = document.createElement("p");
        this.timingEl.className = "hint timing";
        this.timingEl.dataset.timing = "";
        this.statusEl.after(this.timingEl);
      }
      this.cancelButton = root.querySelector("[data-cancel]");
      // The visible status changes at every step: it is not live. Milestones go to a hidden live region.
      this.statusEl.removeAttribute("aria-live");
      this.statusEl.removeAttribute("role");
      this.announcer = el("p", { className: "visually-hidden", role: "status", "aria-live": "polite", "data-announce": true });
      this.link = el("a", { className: "run-link", hidden: true, "data-run-link": true, text: "Link to this run" });
      this.cancelButton.after(this.link);
      root.append(this.announcer);
      this.milestone = "";
      this.run = 0;
      this.taskId = null;
      this.cancelButton.addEventListener("click", () => this.cancel());
      root.soulPanel = this; // restore.js resumes the user's last task on this panel after a reload
    }

    say(text, state) {
      // Only on change: re-setting the same words would make screen readers announce them again.
      if (this.statusEl.textContent !== text) this.statusEl.textContent = text;
      this.root.dataset.state = state;
      if (["sending", "canceling", "succeeded"].includes(state)) this.announce(state, text);
    }

    /* Said once per milestone of a task: queued, started, halfway, and how it ended. */
    announce(milestone, text) {
      if (this.milestone === milestone) return;
      this.milestone = milestone;
      this.announcer.textContent = `${this.current}: ${text}`;
    }

    milestones(task) {
      const { step, total } = task.progress;
      if (task.status === "queued") this.announce("queued", describeStatus(task));
      else if (task.status === "running" && total && step * 2 >= total) this.announce("halfway", `halfway, step ${step} of ${total}.`);
      else if (task.status === "running" && !["halfway", "started"].includes(this.milestone)) this.announce("started", "running.");
      else if (["succeeded", "failed", "canceled"].includes(task.status)) this.announce(task.status, describeStatus(task));
    }

    linkTo(taskId) {
      this.link.hidden = !taskId;
      if (taskId) this.link.href = `/runs#task=${encodeURIComponent(taskId)}`;
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
      this.linkTo(null);
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
      this.milestone = "";
      this.linkTo(null);
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
        this.say(data.cache_hit ? "Ready: served from the cache (made earlier, so no wait)." : "Ready.", "succeeded");
        this.linkTo(data.variant.task_id); // a cache hit is a run of the user's too (Runs lists it)
        this.onResult(data.variant, { cacheHit: data.cache_hit, taskId: null });
        return;
      }
      this.follow(run, data.task_id);
    }

    follow(run, taskId) {
      this.taskId = taskId;
      this.root.dataset.task = taskId;
      this.linkTo(taskId);
      this.cancelButton.hidden = false;
      this.cancelButton.disabled = false;
      this.poll(run, taskId); // not awaited: the form is free again once the task exists
    }

    /* A task sent before this page was loaded (restore.js): followed if it still runs, else shown as it
     * ended — its result on the page, as when it was made. Nothing is announced for a finished one. */
    resume(task, label) {
      const run = ++this.run;
      this.current = label || this.label;
      this.owner = user();
      delete this.root.dataset.errorCode;
      this.root.dataset.restored = task.task_id;
      if (!["succeeded", "failed", "canceled"].includes(task.status)) {
        this.milestone = "";
        this.follow(run, task.task_id);
        return;
      }
      this.milestone = task.status; // already over: not news
      this.taskId = null;
      this.root.dataset.task = task.task_id;
      this.linkTo(task.task_id);
      this.cancelButton.hidden = true;
      this.bar.hidden = true;
      const words = task.served_from_cache ? "Ready: served from the cache (your last run)." : describeStatus(task);
      this.say(words, task.status);
      const timing = task.served_from_cache ? "" : describeTiming(task);
      this.timingEl.textContent = timing;
      if (task.status === "failed") this.root.dataset.errorCode = (task.error && task.error.code) || "failed";
      if (task.status === "succeeded" && task.result) this.onResult(task.result, { cacheHit: task.served_from_cache, taskId: task.task_id });
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
        this.milestones(task);
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
