/* The review page (/ui/admin.html): GET /admin/reports, and Remove / Remove and block / Restore per entry. */
"use strict";

(function () {
  const S = window.Soul;
  const { el } = S;
  let before = null;

  function entry(r) {
    const reasons = Object.entries(r.reasons).map(([k, n]) => `${k} ×${n}`).join(", ");
    const media = r.urls.png ? el("img", { src: S.url(r.urls.png), alt: `Reported: ${r.label}`, width: 160 })
      : r.urls.gif ? el("img", { src: S.url(r.urls.gif), alt: `Reported: ${r.label}`, width: 160 })
      : el("p", { className: "hint", text: "(files deleted)" });
    const say = el("p", { className: "hint", role: "status" });
    const act = (path, body, label) => {
      const b = el("button", { type: "button", text: label });
      b.addEventListener("click", async () => {
        try {
          const { data } = await S.api("POST", `/admin/variants/${r.variant_id}/${path}`, { body: { ...body, user_id: S.user() } });
          say.textContent = `Done: ${data.status}${data.key_blocked ? ", prompt blocked" : ""}.`;
        } catch (err) {
          S.showError(err, label);
        }
      });
      return b;
    };
    return el(
      "li",
      { "data-reported": r.variant_id, className: "block" },
      media,
      el("p", { text: `${r.label || r.variant_id} — ${r.reporters} reporter(s): ${reasons}` }),
      el("p", { className: "hint", text: `variant ${r.variant_status}, review ${r.status}, last report ${S.ago(r.last_at)}` }),
      el("div", { className: "row" },
        act("remove", { block_key: false }, "Remove"),
        act("remove", { block_key: true }, "Remove and block the prompt"),
        act("restore", {}, "Restore")),
      say,
    );
  }

  async function load() {
    try {
      const { data } = await S.api("GET", "/admin/reports", { query: { limit: 20, before } });
      const list = document.getElementById("reports");
      if (!data.reports.length && before === null) list.append(el("li", { className: "hint", text: "No reports." }));
      list.append(...data.reports.map(entry));
      before = data.next_before;
      document.getElementById("more").hidden = before === null;
    } catch (err) {
      S.showError(err, "Loading reports");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    S.initUser();
    document.getElementById("more").addEventListener("click", load);
    load();
  });
})();
