/* The video page: Wan text-to-video (soul + cue) and the landmark selfie video, each a task followed
 * to its MP4 + GIF. Wan runs on DashScope; without a key the server fails the task with
 * `not_configured`, which this page says in words (and warns about up front, from GET /info). */
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

  async function warnIfNotConfigured() {
    const info = await S.loadInfo();
    const wan = info && info.generators && info.generators.wan;
    if (wan && wan.startsWith("not configured")) {
      const note = $("wan-notice");
      note.textContent = `Wan is ${wan} on this server: requests will be accepted, then fail with not_configured.`;
      note.hidden = false;
    }
  }

  function init() {
    S.initUser();
    warnIfNotConfigured();
    S.loadSouls([$("wan-soul"), $("wan-selfie-soul")]);
    S.loadPlaces([$("wan-city")]);
    const job = new S.JobPanel($("wan-job"), "Video", showVideo);

    S.onSubmit($("wan-form"), (f) => {
      $("wan-out").hidden = true;
      const query = { soul_id: f.soul_id, cue: f.cue, user_id: S.user() };
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
