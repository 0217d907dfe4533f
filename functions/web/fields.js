/* Form fields checked against the API's own limits (GET /limits, read once: no limit is written here by
 * hand), with the problem said in plain words next to the field (aria-invalid, aria-describedby, focus):
 * - a cue shows "n/limit" as you type; past the limit it is marked at once and never cut (a paste of 5,000
 *   characters stays 5,000, and says so); a cue of blanks is refused before anything is sent;
 * - number fields (seed, steps, guidance, size) take the limits as min/max/step;
 * - an error the API answers for a field (error.field) lands next to that field the same way.
 * The words match the API's (functions/plain_errors.py). Extends window.Soul (common.js). */
"use strict";

(function () {
  const S = window.Soul;
  const LABELS = { cue: "cue", seed: "seed", steps: "steps", guidance_scale: "guidance", width: "width", height: "height" };
  let limits = null;

  function loadLimits() {
    if (!limits) limits = S.api("GET", "/limits").then(({ data }) => data).catch(() => ({ image: {}, wan: {} }));
    return limits;
  }

  const num = (n) => Number(n).toLocaleString("en-US");

  function limitOf(all, control) {
    const [group, name] = (control.dataset.limit || "").split(".");
    return (all[group] || {})[name] || null;
  }

  function textRule(label, limit) {
    const low = limit.min_length || 0;
    return low ? `Write a ${label} of ${low}–${num(limit.max_length)} characters.` : `Keep the ${label} to ${num(limit.max_length)} characters.`;
  }

  function rangeRule(label, limit) {
    const kind = limit.multiple_of ? `a multiple of ${num(limit.multiple_of)}` : limit.type === "integer" ? "a whole number" : "a number";
    const name = label.charAt(0).toUpperCase() + label.slice(1);
    return `${name} must be ${kind} from ${num(limit.minimum)} to ${num(limit.maximum)}.`;
  }

  /* The problem with the control's value in words, or "" (empty optional fields are fine). */
  function problem(control, limit, submitting) {
    const label = LABELS[control.name] || control.name;
    if (control.tagName === "TEXTAREA" || control.type === "text") {
      const value = control.value;
      if (!limit || !limit.max_length) return "";
      if (value.length > limit.max_length) return `${textRule(label, limit)} This one has ${num(value.length)}.`;
      if (submitting && control.required && !value.trim()) {
        return value.length ? `${textRule(label, limit)} Spaces alone do not count.` : textRule(label, limit);
      }
      return "";
    }
    if (control.type === "number" && limit) {
      const v = control.validity;
      if (v.badInput || v.rangeUnderflow || v.rangeOverflow || v.stepMismatch) return rangeRule(label, limit);
    }
    return "";
  }

  function errorEl(control) {
    const ids = (control.getAttribute("aria-describedby") || "").split(" ");
    return ids.map((id) => document.getElementById(id)).find((el) => el && el.hasAttribute("data-error")) || null;
  }

  /* Mark (or clear, with "") one field: its message next to it, aria-invalid, and the browser's own validity. */
  function mark(control, message) {
    const el = errorEl(control);
    control.setCustomValidity(message);
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
    if (el) {
      if (el.textContent !== message) el.textContent = message;
      el.hidden = !message;
    }
  }

  /* Checks every limited field of `form`; marks each, focuses the first bad one (opening its <details>). */
  async function check(form) {
    const all = await loadLimits();
    let first = null;
    for (const control of form.querySelectorAll("[data-limit]")) {
      if (control.disabled) continue;
      const message = problem(control, limitOf(all, control), true);
      mark(control, message);
      if (message && !first) first = control;
    }
    if (first) focus(first);
    return !first;
  }

  function focus(control) {
    const details = control.closest("details");
    if (details) details.open = true;
    control.focus();
  }

  /* An API error naming a field of `form`: said next to that field. True when it was. */
  function showApiError(form, err) {
    if (!err || !err.field) return false;
    const control = [...form.elements].find((c) => c.name === err.field);
    if (!control || !errorEl(control)) return false; // no place beside it: the page's alert says it
    mark(control, err.message);
    focus(control);
    return true;
  }

  function setUpCounter(control, limit) {
    const counter = control.closest(".field").querySelector("[data-count]");
    const update = () => {
      const n = control.value.length;
      if (counter) {
        counter.textContent = `${num(n)}/${num(limit.max_length)}`;
        counter.classList.toggle("over", n > limit.max_length);
      }
      // As you type: only "too long" is said at once; an empty or blank cue is said when you send it.
      const message = problem(control, limit, false);
      if (message || control.getAttribute("aria-invalid") === "true") mark(control, message);
    };
    control.addEventListener("input", update);
    update();
  }

  /* Enter sends the form (as in a one-line field); Shift+Enter starts a new line. */
  function enterSends(textarea) {
    textarea.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      textarea.form.requestSubmit();
    });
  }

  /* Sets up every limited field of `form` once the limits are in. */
  async function setUp(form) {
    const all = await loadLimits();
    for (const control of form.querySelectorAll("[data-limit]")) {
      const limit = limitOf(all, control);
      if (!limit) continue;
      if (control.tagName === "TEXTAREA") {
        setUpCounter(control, limit);
        enterSends(control);
      } else if (control.type === "number") {
        control.min = limit.minimum;
        control.max = limit.maximum;
        control.step = limit.multiple_of || (limit.type === "integer" ? 1 : "any");
        control.addEventListener("input", () => mark(control, problem(control, limit, false)));
      }
    }
    form.dataset.limits = "ready";
  }

  window.Soul.fields = { setUp, check, mark, showApiError, loadLimits };
})();
