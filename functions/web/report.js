/* Report buttons (docs/SAFETY.md, Reports): every result on the pages (an element with data-variant that
 * is not a history thumbnail) and every finished run in the detail dialog gets a "Report" button. It opens
 * a small form (reason, optional note) and posts /variants/{id}/report; the variant is never shown to this
 * user again, and enough reporters hide it from everyone. Extends window.Soul (common.js). */
"use strict";

(function () {
  const S = window.Soul;
  const { el } = S;
  const REASONS = [
    ["sexual", "Sexual content"],
    ["minors", "Involves a minor"],
    ["violence", "Violence or gore"],
    ["self_harm", "Self-harm"],
    ["hate", "Hate or harassment"],
    ["illegal", "Illegal activity"],
    ["spam", "Spam or misleading"],
    ["other", "Something else"],
  ];
  let form = null;

  function dialog() {
    if (form) return form;
    const select = el("select", { name: "reason", id: "report-reason", required: true });
    for (const [value, label] of REASONS) select.append(el("option", { value, text: label }));
    const note = el("textarea", { name: "note", id: "report-note", maxLength: 500, rows: 3 });
    const say = el("p", { className: "hint", role: "status", "data-report-say": true });
    const send = el("button", { type: "submit", text: "Send report" });
    const cancel = el("button", { type: "button", text: "Cancel" });
    const body = el(
      "form",
      { method: "dialog", className: "detail-body" },
      el("label", { for: "report-reason", text: "What is wrong with it?" }),
      select,
      el("label", { for: "report-note", text: "Anything to add (optional)" }),
      note,
      el("div", { className: "row" }, send, cancel),
      say,
    );
    form = el("dialog", { id: "report", className: "detail", "aria-labelledby": "report-h" });
    form.append(el("div", { className: "detail-top" }, el("h2", { id: "report-h", text: "Report this result" })), body);
    cancel.addEventListener("click", () => form.close());
    body.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = form.dataset.reportFor;
      send.disabled = true;
      try {
        const query = { user_id: S.user() };
        const { data } = await S.api("POST", `/variants/${id}/report`, { body: { reason: select.value, note: note.value, ...query } });
        say.textContent = data.hidden ? "Thank you. It is now hidden from everyone." : "Thank you. You will not be shown it again.";
        document.querySelectorAll(`[data-report="${id}"]`).forEach((b) => { b.disabled = true; b.textContent = "Reported"; });
        setTimeout(() => form.close(), 1200);
      } catch (err) {
        say.textContent = `Could not send the report: ${err.message}`;
      } finally {
        send.disabled = false;
      }
    });
    document.body.append(form);
    return form;
  }

  function open(variantId) {
    const box = dialog();
    box.dataset.reportFor = variantId; // not data-variant: that would give the form its own Report button
    box.querySelector("[data-report-say]").textContent = "";
    box.querySelector("textarea").value = "";
    box.showModal();
  }

  function button(variantId) {
    const b = el("button", { type: "button", className: "report", text: "Report", "data-report": variantId });
    b.setAttribute("aria-label", "Report this result as offensive or unsafe");
    b.addEventListener("click", () => open(variantId));
    return b;
  }

  function attach(node, variantId) {
    const old = node.querySelector(":scope > button.report");
    if (old && old.dataset.report === variantId) return;
    if (old) old.remove();
    if (variantId) node.append(button(variantId));
  }

  async function variantOf(ref) {
    const [kind, id] = ref.split("=");
    if (kind === "variant") return id;
    const task = (await S.api("GET", `/tasks/${id}`, { query: { user_id: S.user() } })).data;
    return task.status === "succeeded" && task.result ? task.result.variant_id : null;
  }

  async function scan() {
    for (const node of document.querySelectorAll("[data-variant]:not(li)")) attach(node, node.dataset.variant);
    const body = document.querySelector("#detail .detail-body[data-ref]");
    if (body && !body.querySelector(":scope > button.report")) {
      try {
        const id = await variantOf(body.dataset.ref);
        if (id) attach(body, id);
      } catch (_err) {
        /* a run that is gone or not ours: nothing to report */
      }
    }
  }

  let queued = false;
  const observer = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; scan(); });
  });
  document.addEventListener("DOMContentLoaded", () => {
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-variant", "data-ref"] });
    scan();
  });
  window.Soul.report = { open, button };
})();
