/* The image page: pick a soul (cards with its description and a sample made here), generate from a cue
 * (checked against the API's limits before sending, fields.js; Advanced: seed and the soul's settings) or
 * take a landmark selfie, follow the task's real progress (brought into view on a phone), show the image with
 * its download and details, "Transform to GIF" (SVD on that variant → MP4 + GIF), and the user's "seen"
 * history, each entry opening the detail dialog (detail.js). Uses window.Soul from common.js. */
"use strict";

(function () {
  const S = window.Soul;
  const SEEN_SHOWN = 12;
  const NARROW = window.matchMedia("(max-width: 56rem)"); // one column: the result sits under the forms
  let current = null; // the image variant on screen, the one "Transform to GIF" animates

  const $ = (id) => document.getElementById(id);

  function showImage(variant, info) {
    current = variant;
    const figure = $("image-figure");
    const img = $("result-image");
    img.src = S.url(variant.urls.png);
    img.alt = `${variant.soul_id}: ${variant.label || "generated image"} (${variant.generator})`;
    const origin = info.cacheHit ? "from the cache" : "newly made";
    $("image-caption").textContent =
      `${variant.label || "Image"}, soul ${variant.soul_id}, seed ${variant.seed}, ${origin} by the ${variant.generator} generator.`;
    $("png-link").href = img.src;
    $("png-link").download = `soul-${variant.soul_id}-${variant.variant_id}.png`;
    $("image-details").href = `#variant=${variant.variant_id}`;
    figure.hidden = false;
    figure.dataset.variant = variant.variant_id;
    $("to-gif").disabled = false;
    $("video-out").hidden = true;
    estimate();
    loadSeen();
  }

  function clearResult() {
    current = null;
    $("image-figure").hidden = true;
    $("video-out").hidden = true;
    $("to-gif").disabled = true;
    $("gif-estimate").textContent = "Generate an image first.";
  }

  function showVideo(variant) {
    const out = $("video-out");
    const video = $("result-video");
    video.src = S.url(variant.urls.mp4);
    video.setAttribute("aria-label", `MP4 of ${variant.label || "the image"}`);
    const gif = $("result-gif");
    if (variant.urls.gif) {
      gif.src = S.url(variant.urls.gif);
      gif.alt = `Animated GIF of ${variant.label || "the image"}`;
      gif.closest("figure").hidden = false;
    } else {
      gif.closest("figure").hidden = true;
    }
    $("mp4-link").href = video.src;
    $("mp4-link").download = `soul-${variant.soul_id}-${variant.variant_id}.mp4`;
    $("gif-link").href = gif.src;
    $("gif-link").download = `soul-${variant.soul_id}-${variant.variant_id}.gif`;
    out.dataset.variant = variant.variant_id;
    out.hidden = false;
    estimate(); // the estimate now includes the run that just finished
    loadSeen();
  }

  // One history entry: the variant's own short-lived URL (its PNG, or the GIF of a video variant), its
  // words and time, opening the detail dialog.
  function thumb(variant) {
    const src = variant.urls && (variant.urls.png || variant.urls.gif);
    const when = variant.created_at ? `made ${S.ago(variant.created_at)}` : "";
    const img = src ? S.el("img", { src: S.url(src), alt: "", loading: "lazy" }) : null;
    const link = S.el(
      "a",
      { href: `#variant=${variant.variant_id}` },
      img,
      S.el("span", { className: "label", text: variant.label || variant.variant_id }),
      S.el("span", { className: "meta", text: [variant.soul_id, variant.kind, when].filter(Boolean).join(" · ") }),
    );
    return S.el("li", { "data-variant": variant.variant_id }, link);
  }

  async function loadSeen() {
    const list = $("seen-list");
    const summary = $("seen-summary");
    const uid = S.user();
    try {
      const { data } = await S.api("GET", `/image/user/${encodeURIComponent(uid)}/seen`);
      const ids = data.variant_ids; // most recently seen first
      const details = new Map(data.variants.map((v) => [v.variant_id, v]));
      const shown = ids.slice(0, SEEN_SHOWN).map((id) => details.get(id) || { variant_id: id });
      list.replaceChildren(...shown.map(thumb));
      const more = ids.length > SEEN_SHOWN ? `, showing the newest ${SEEN_SHOWN} (all in the gallery)` : "";
      summary.textContent = ids.length
        ? `${uid} has seen ${ids.length} variant${ids.length === 1 ? "" : "s"}${more}.`
        : `${uid} has not seen any variant yet.`;
    } catch (err) {
      summary.textContent = `Could not load the history: ${err.message}`;
    }
  }

  async function estimate() {
    const el = $("gif-estimate");
    const frames = parseInt($("frames").value, 10);
    try {
      const { data } = await S.api("GET", "/video/estimate", { query: { num_frames: frames || "" } });
      const basis = S.basisWords(data.basis); // timing.js: the same words the running job then uses
      el.textContent = `About ${S.seconds(data.estimated_seconds)} for ${data.num_frames} frames (${basis}).`;
    } catch (err) {
      el.textContent = `No estimate: ${err.message}`;
    }
  }

  /* On a phone, scrolled away from a job that is still going: a bar at the bottom says where it is and
   * brings it back into view. Not a live region: the job panel itself already announces each change. */
  function liveBar(panel) {
    const words = S.el("span", { className: "live-words" });
    const show = S.el("button", { type: "button", text: "Show" });
    const bar = S.el("div", { className: "live-bar", hidden: true }, words, show);
    document.body.append(bar);
    let inView = true;
    const update = () => {
      const going = ["sending", "queued", "running"].includes(panel.dataset.state);
      bar.hidden = inView || !going || !NARROW.matches;
      words.textContent = `Image: ${panel.querySelector("[data-status]").textContent}`;
    };
    new IntersectionObserver(([entry]) => {
      inView = entry.isIntersecting;
      update();
    }).observe(panel);
    new MutationObserver(update).observe(panel, { attributes: true, childList: true, subtree: true, characterData: true });
    show.addEventListener("click", () => panel.scrollIntoView({ block: "start" }));
  }

  // -- souls: a card each, with its description and a sample this server made of it ----------------------
  const SAMPLE_WAIT_MS = [1000, 2000, 4000, 8000];

  async function loadSample(card, soul, attempt = 0) {
    const note = card.querySelector(".sample-note");
    let sample;
    try {
      sample = (await S.api("GET", `/style/${encodeURIComponent(soul.soul_id)}/sample`)).data;
    } catch (_err) {
      note.textContent = "No sample to show.";
      return;
    }
    if (sample.status !== "ready") {
      note.textContent = "Sample being made…";
      const wait = SAMPLE_WAIT_MS[Math.min(attempt, SAMPLE_WAIT_MS.length - 1)];
      if (attempt < 30) setTimeout(() => loadSample(card, soul, attempt + 1), wait);
      return;
    }
    const preview = sample.generator === "preview";
    const img = card.querySelector("img");
    img.alt = preview ? `Preview placeholder for ${soul.display_name} (no model installed)` : `Sample of ${soul.display_name}`;
    img.src = S.url(sample.image_url);
    img.hidden = false;
    card.dataset.generator = sample.generator;
    note.textContent = preview ? "Sample: a labelled preview, no model here" : `Sample made here (${sample.generator})`;
  }

  function soulCards(souls) {
    const select = $("soul");
    const cards = souls.map((soul) => {
      const card = S.el(
        "button",
        // Out of the Tab order: the <select> above is the keyboard way to choose (it says the description too).
        { type: "button", className: "soul-card", "data-soul": soul.soul_id, "aria-pressed": "false", tabIndex: -1 },
        S.el("img", { alt: "", hidden: true, decoding: "async", width: 96, height: 96 }),
        S.el("span", { className: "soul-name", text: soul.display_name || soul.soul_id }),
        S.el("span", { className: "soul-desc", text: soul.description || "" }),
        S.el("span", { className: "sample-note hint", text: "Loading the sample…" }),
      );
      card.addEventListener("click", () => {
        select.value = soul.soul_id;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      });
      loadSample(card, soul);
      return card;
    });
    const row = $("soul-cards");
    row.replaceChildren(...cards);
    const pressed = () => {
      for (const card of cards) {
        const on = card.dataset.soul === select.value;
        card.setAttribute("aria-pressed", String(on));
        if (on) row.scrollLeft = card.offsetLeft - row.offsetLeft - 8; // the chosen card in view (a phone's row scrolls)
      }
    };
    select.addEventListener("change", pressed);
    pressed();
  }

  /* The Advanced boxes show the chosen soul's own settings as their placeholders (empty = those). */
  function soulSettings(event) {
    const soul = event.detail;
    if (!soul) return;
    for (const input of document.querySelectorAll("#advanced [data-param]")) {
      input.placeholder = `${soul.params[input.dataset.param]} (${soul.display_name || soul.soul_id}'s)`;
    }
  }

  /* The query for GET /image: the cue, and the seed and settings only when given (else the soul's own). */
  function imageQuery(f) {
    const query = { soul_id: f.soul_id, cue: f.cue, user_id: S.user() };
    for (const name of ["seed", "steps", "guidance_scale", "width", "height"]) {
      if (f[name] !== undefined && f[name] !== "") query[name] = f[name];
    }
    return query;
  }

  function init() {
    S.initUser();
    S.loadInfo();
    $("soul").addEventListener("soul:soul", soulSettings);
    S.loadSouls([$("soul"), $("selfie-soul")]).then(soulCards);
    S.loadPlaces([$("city")]);
    S.fields.setUp($("image-form"));

    const imageJob = new S.JobPanel($("image-job"), "Image", showImage);
    // On a phone the result is under both forms: bring the live job into view as soon as it starts.
    document.addEventListener("soul:job-start", (e) => {
      if (!NARROW.matches) return;
      const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      e.target.scrollIntoView({ block: "start", behavior: reduce ? "auto" : "smooth" });
    });
    const videoJob = new S.JobPanel($("video-job"), "GIF", showVideo);
    liveBar($("image-job"));

    // A new image request: the old image and its GIF leave the screen, so a failure cannot sit above
    // them (a GIF still being made lands in the history).
    const fresh = () => {
      clearResult();
      videoJob.reset("");
    };
    S.onSubmit($("image-form"), async (f) => {
      if (!(await S.fields.check($("image-form")))) return; // said next to the field; nothing sent
      fresh();
      const query = imageQuery(f);
      return imageJob.start(() => S.api("GET", "/image", { query }));
    });
    S.onSubmit($("selfie-form"), (f) => {
      fresh();
      const body = { soul_id: f.soul_id, city_key: f.city_key, mood: f.mood, user_id: S.user() };
      return imageJob.start(() => S.api("POST", "/image/selfie", { body }), "Selfie");
    });
    $("to-gif").addEventListener("click", () => {
      if (!current) return;
      S.clearError();
      const frames = parseInt($("frames").value, 10);
      const body = { variant_id: current.variant_id, user_id: S.user() };
      if (frames) body.num_frames = frames;
      videoJob.start(() => S.api("POST", "/video/generate", { body }));
    });
    $("frames").addEventListener("input", estimate);
    document.addEventListener("soul:user", loadSeen);
    loadSeen();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
