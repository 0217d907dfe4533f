/* The gallery: the variants this user has been shown (their newest 24, as GET .../seen sends them in
 * full), as a grid with label, soul, kind and time, filterable by soul and kind; each opens the detail
 * dialog (detail.js). Uses window.Soul (common.js). */
"use strict";

(function () {
  const S = window.Soul;
  const { el } = S;
  const KINDS = { image: "image", selfie: "selfie", svd: "animated image", wan: "Wan video" };
  let variants = [];
  let total = 0;

  function tile(v) {
    const src = S.url(v.urls.png || v.urls.gif);
    const media = src ? el("img", { src, alt: "", loading: "lazy" }) : el("span", { className: "thumb", text: "MP4" });
    const meta = `${v.soul_id} · ${KINDS[v.kind] || v.kind} · made ${S.ago(v.created_at)}`;
    const link = el(
      "a",
      { href: `#variant=${v.variant_id}`, "aria-label": `${v.label || v.variant_id} (${meta})` },
      media,
      el("span", { className: "label", text: v.label || v.variant_id }),
      el("span", { className: "meta", text: meta }),
    );
    return el("li", { "data-variant": v.variant_id, "data-kind": v.kind, "data-soul": v.soul_id }, link);
  }

  function show() {
    const soul = document.getElementById("filter-soul").value;
    const kind = document.getElementById("filter-kind").value;
    const shown = variants.filter((v) => (!soul || v.soul_id === soul) && (!kind || v.kind === kind));
    document.getElementById("gallery").replaceChildren(...shown.map(tile));
    const uid = S.user();
    const filtered = soul || kind ? ` matching the filter` : "";
    const newest = total > variants.length ? ` (the newest ${variants.length} of ${total})` : "";
    document.getElementById("gallery-summary").textContent = total
      ? `${shown.length} variant${shown.length === 1 ? "" : "s"}${filtered} seen by ${uid}${newest}.`
      : `${uid} has not seen any variant yet: make one on the Images or Video page.`;
  }

  async function load() {
    const uid = S.user();
    try {
      const { data } = await S.api("GET", `/image/user/${encodeURIComponent(uid)}/seen`);
      variants = data.variants;
      total = data.variant_ids.length;
    } catch (err) {
      document.getElementById("gallery-summary").textContent = `Could not load the gallery: ${err.message}`;
      return;
    }
    const select = document.getElementById("filter-soul");
    const chosen = select.value;
    const souls = [...new Set(variants.map((v) => v.soul_id))].sort();
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
