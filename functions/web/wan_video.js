/* The video page: Wan text-to-video (soul + cue, optional seed) and the landmark selfie video, each a task
 * followed to its MP4 + GIF. Wan runs on DashScope: when GET /info says this server has no key, both forms
 * are turned off and the notice says so in plain words (the variable to set is on the status page). */
"use strict";

(function () {
  const S = window.Soul;
  const $ = (id) => document.getElementById(id);

  function showVideo(variant, info) {
    const out = $("wan-out");
    const video = $("wan-video");
    video.src = S.url(variant.urls.mp4);
    video.setAttribute("aria-label", `MP4 of ${variant.label || "the video"}`);
    $("wan-mp4-link").href = video.src;
    $("wan-gif-link").href = variant.urls.gif ? S.url(variant.urls.gif) : "#";
    $("wan-details").href = `#variant=${variant.variant_id}`;
    const gif = $("wan-gif");
    const gifFigure = gif.closest("figure");
    gifFigure.hidden = !variant.urls.gif;
    if (variant.urls.gif) {
      gif.src = S.url(variant.urls.gif);
      gif.alt = `Animated GIF of ${variant.label || "the video"}`;
    }
    const origin = info.cacheHit ? "from the cache" : "newly made";
    $("wan-caption").textContent =
      `${variant.label || "Video"}, soul ${variant.soul_id}, seed ${variant.seed}, ${origin} by the ${variant.generator} generator.`;
    out.dataset.variant = variant.variant_id;
    out.hidden = false;
  }

  /* No key on the server: every Wan request would become a failed task, so the forms are off. */
  async function disableIfNotConfigured() {
    const info = await S.loadInfo();
    const wan = info && info.generators && info.generators.wan;
    if (!wan || !wan.startsWith("not configured")) return;
    const note = $("wan-notice");
    // Plain words here; what an operator sets to turn it on is on the status page.
    note.textContent =
      "Text-to-video is not available on this server yet, so these forms are off. " +
      "Images and GIFs work (Images page).";
    note.hidden = false;
    for (const form of [$("wan-form"), $("wan-selfie-form")]) {
      form.setAttribute("aria-describedby", "wan-notice");
      for (const control of form.elements) control.disabled = true;
    }
    document.body.dataset.wan = "not-configured";
  }

  function init() {
    S.initUser();
    disableIfNotConfigured();
    S.loadSouls([$("wan-soul"), $("wan-selfie-soul")]);
    S.loadPlaces([$("wan-city")]);
    const job = new S.JobPanel($("wan-job"), "Video", showVideo);

    S.fields.setUp($("wan-form"));
    S.onSubmit($("wan-form"), async (f) => {
      if (!(await S.fields.check($("wan-form")))) return; // said next to the field; nothing sent
      $("wan-out").hidden = true;
      const query = { soul_id: f.soul_id, cue: f.cue, user_id: S.user() };
      if (f.seed) query.seed = f.seed;
      return job.start(() => S.api("GET", "/wan-video/", { query }));
    });
    S.onSubmit($("wan-selfie-form"), (f) => {
      $("wan-out").hidden = true;
      const body = { soul_id: f.soul_id, city_key: f.city_key, mood: f.mood, user_id: S.user() };
      return job.start(() => S.api("POST", "/wan-video/selfie", { body }), "Selfie video");
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
