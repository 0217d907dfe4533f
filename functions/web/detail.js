/* The run / variant detail: a modal <dialog> (Esc closes it, focus stays inside) opened by a link to
 * `#task=<id>` or `#variant=<id>` on any page that loads this script. It shows the outputs full size with
 * a download for every format, the prompt actually sent (the soul's template applied), seed, settings and
 * measured times, a "copy as curl" that repeats the request, and Re-run / Another variant ("seen N of M").
 * A task still running is followed live, with Cancel, while the dialog is open.
 * The address bar always names the run on screen (Re-run and Another variant replace it), and the dialog
 * is one history entry: Back closes it. A link to someone else's finished run opens the shared view
 * (GET /shared/...: "shared by another user", what the viewer can do). Media URLs are signed on each open
 * and signed again when one has expired under the viewer. Extends window.Soul (common.js). */
"use strict";

(function () {
  const S = window.Soul;
  const { el, seconds } = S;
  const LIVE_MS = 600;
  const FORMATS = [
    ["png", "PNG image"],
    ["gif", "GIF animation"],
    ["mp4", "MP4 video (H.264)"],
  ];
  let dialog = null;
  let opened = 0; // each open() bumps it: a slow answer for an older open is dropped
  let places = null;
  let pushed = false; // the dialog has its own history entry (Back closes it; closing goes back)
  const REF = /^#(task|variant)=([A-Za-z0-9_-]+)$/;

  function hashFor(ref) {
    return ref.task ? `#task=${ref.task}` : `#variant=${ref.variant}`;
  }

  /* The address bar names the run on screen: a new entry when the dialog opens, replaced while it is open. */
  function syncUrl(ref) {
    const hash = hashFor(ref);
    if (location.hash === hash) return;
    const target = location.pathname + location.search + hash;
    if (dialog && dialog.open) {
      history.replaceState(history.state, "", target);
    } else {
      history.pushState({ soulDetail: true }, "", target);
      pushed = true;
    }
  }

  function shell() {
    if (dialog) return dialog;
    dialog = el("dialog", { id: "detail", className: "detail", "aria-labelledby": "detail-h" });
    const close = el("button", { type: "button", className: "close", text: "Close", "data-close": true });
    close.addEventListener("click", () => dialog.close());
    dialog.append(
      el("div", { className: "detail-top" }, el("h2", { id: "detail-h", text: "Run" }), close),
      el("div", { className: "detail-body", "data-body": true }),
      el("p", { className: "hint", role: "status", "data-say": true }),
    );
    dialog.addEventListener("close", () => {
      opened++;
      if (!REF.test(location.hash)) return; // closed by Back: the address bar has moved on already
      if (pushed) {
        pushed = false;
        history.back(); // the dialog's own entry goes: Back after this leaves the page, as expected
      } else {
        history.replaceState(null, "", location.pathname + location.search); // opened from a loaded link
      }
    });
    document.body.append(dialog);
    return dialog;
  }

  function say(text) {
    shell().querySelector("[data-say]").textContent = text;
  }

  // -- the request that made it, as the API takes it (re-run, another variant, copy as curl) ----------
  async function cityKey(name) {
    if (!places) places = (await S.api("GET", "/places")).data.cities;
    const city = places.find((c) => c.name === name);
    return city ? city.city_key : null;
  }

  /* `exact`: pinned to the run's seed, so it gives back this very run (Copy as curl, Re-run); without it the
   * same cue and settings ask for a variant the user has not seen (Another variant). */
  async function requestFor(kind, spec, exact = false) {
    const user_id = S.user();
    const selfie = /^selfie at .+ in (.+), ([A-Za-z][A-Za-z -]*) mood$/.exec(spec.cue);
    if (kind === "svd") {
      const body = { variant_id: spec.source_variant_id, num_frames: spec.num_frames, user_id };
      return { method: "POST", path: "/video/generate", body };
    }
    if (spec.soul_id === "direct") {
      const body = { positive_prompt: spec.prompt, negative_prompt: spec.negative_prompt, seed: spec.seed, user_id };
      return { method: "POST", path: "/wan-video/generate-direct", body };
    }
    if (selfie && (kind === "selfie" || kind === "wan")) {
      const city_key = await cityKey(selfie[1]);
      if (!city_key) return null;
      const body = { soul_id: spec.soul_id, city_key, mood: selfie[2], user_id };
      return { method: "POST", path: kind === "wan" ? "/wan-video/selfie" : "/image/selfie", body };
    }
    const query = { soul_id: spec.soul_id, cue: spec.cue, user_id };
    if (kind === "image") Object.assign(query, { steps: spec.steps, guidance_scale: spec.guidance_scale, width: spec.width, height: spec.height });
    if (exact) query.seed = spec.seed;
    return { method: "GET", path: kind === "wan" ? "/wan-video/" : "/image", query };
  }

  function quote(text) {
    return `'${String(text).replace(/'/g, "'\\''")}'`;
  }

  /* A curl command for a terminal: waits up to 30 s for the result instead of answering 202 at once. */
  function curl(request) {
    const base = new URL(S.url(request.path), location.href).href;
    if (request.method === "GET") {
      const fields = Object.entries({ ...request.query, wait: 30 }).map(([k, v]) => `--data-urlencode ${quote(`${k}=${v}`)}`);
      return [`curl -sG ${quote(base)}`, ...fields].join(" \\\n  ");
    }
    const body = JSON.stringify({ ...request.body, wait: 30 });
    return [`curl -s -X POST ${quote(base)}`, "-H 'Content-Type: application/json'", `-d ${quote(body)}`].join(" \\\n  ");
  }

  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      say(`${what} copied to the clipboard.`);
    } catch (_err) {
      say(`Could not use the clipboard here: select the ${what.toLowerCase()} and copy it by hand.`);
    }
  }

  // -- rendering ------------------------------------------------------------------------------------
  function outputs(variant) {
    const figures = [];
    for (const [ext, name] of FORMATS) {
      const src = variant.urls[ext] && S.url(variant.urls[ext]);
      if (!src) continue;
      const alt = `${name} of ${variant.label || variant.variant_id}`;
      const media =
        ext === "mp4"
          ? el("video", { src, controls: true, loop: true, muted: true, playsInline: true, "aria-label": alt })
          : el("img", { src, alt, decoding: "async" });
      const file = `soul-${variant.soul_id}-${variant.variant_id}.${ext}`;
      const download = el("a", { className: "button", href: src, download: file, text: `Download ${ext.toUpperCase()}` });
      const full = el("a", { href: src, target: "_blank", rel: "noopener", text: "open full size" });
      figures.push(el("figure", { "data-format": ext }, media, el("figcaption", {}, download, " · ", full, ` · ${name}`)));
    }
    return el("div", { className: "outputs" }, ...figures);
  }

  function facts(rows) {
    const list = el("dl", { className: "facts" });
    for (const [name, value] of rows) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", { text: name }), el("dd", { text: String(value) }));
    }
    return list;
  }

  function block(title, text, copyWhat) {
    const pre = el("pre", { text, tabIndex: 0 });
    const button = copyWhat ? el("button", { type: "button", className: "link", text: `Copy ${copyWhat.toLowerCase()}` }) : null;
    if (button) button.addEventListener("click", () => copy(text, copyWhat));
    return el("section", { className: "block" }, el("div", { className: "row" }, el("h3", { text: title }), button), pre);
  }

  function settings(kind, spec, variant, task) {
    const t = task && task.timing;
    return facts([
      ["Soul", spec.soul_id],
      ["Kind", kind],
      ["Seed", spec.seed],
      ["Size", `${spec.width}×${spec.height}`],
      ["Steps", spec.steps],
      ["Guidance", kind === "image" || kind === "selfie" ? spec.guidance_scale : null],
      ["Frames", spec.num_frames ? `${spec.num_frames} at ${spec.fps} fps` : null],
      ["Generator", variant && variant.generator],
      ["From variant", spec.source_variant_id],
      // A cache hit did not wait or run for this user: the times are the first maker's, said as such.
      ["Served", task && task.served_from_cache ? "from the cache, at once" : null],
      [task && task.served_from_cache ? "Queued (first made)" : "Queued for", t ? seconds(t.queued_seconds) : null],
      [task && task.served_from_cache ? "Ran (first made)" : "Ran for", t && t.run_seconds !== null ? seconds(t.run_seconds) : null],
      ["Variant", variant && variant.variant_id],
      ["Task", task ? task.task_id : null],
    ]);
  }

  function status(task, ref, run) {
    if (!task) return null;
    const { step, total } = task.progress;
    const place = S.queueWords ? S.queueWords(task) : "";
    const words = {
      queued: place ? `Queued: ${place}.` : "Queued: waiting for a worker.",
      running: task.cancel_requested ? "Canceling…" : total ? `Running: step ${step}/${total}.` : "Running.",
      succeeded: task.served_from_cache ? "Succeeded: served to you from the cache." : "Succeeded.",
      failed: `Failed: ${S.failure(task)}`,
      canceled: task.error ? `Canceled: ${task.error.message}` : "Canceled.",
    }[task.status];
    const p = el("p", { className: `state state-${task.status}`, "data-state": task.status, text: words || task.status });
    const parts = [p];
    if (task.status === "running" && total) parts.push(el("progress", { max: total, value: step, "aria-label": "Progress" }));
    const timing = !["succeeded", "failed", "canceled"].includes(task.status) && S.timingWords ? S.timingWords(task) : "";
    if (timing) parts.push(el("p", { className: "hint", "data-timing": true, text: timing }));
    if (["queued", "running"].includes(task.status) && !task.cancel_requested) {
      const cancel = el("button", { type: "button", "data-cancel-run": true, text: "Cancel this run" });
      cancel.addEventListener("click", () => cancelRun(task.task_id, cancel, () => render(ref, run)));
      parts.push(cancel);
    }
    return el("div", { className: "run-status" }, ...parts);
  }

  async function actions(kind, spec, seenOf, succeeded) {
    const request = await requestFor(kind, spec, !succeeded);
    if (!request) return el("p", { className: "hint", text: "This run cannot be repeated from here (its city is gone)." });
    const label = succeeded ? "Another variant" : "Re-run";
    const button = el("button", { type: "button", className: "primary", "data-rerun": true, text: label });
    const counted = seenOf ? `You have seen ${seenOf.seen} of ${seenOf.of} ready variant${seenOf.of === 1 ? "" : "s"} of this prompt` : "";
    const why = succeeded
      ? `${counted}${counted ? "; a" : "A"}nother is served from the cache if you have not seen it, otherwise a new one is made.`
      : "Sends the same request again.";
    button.addEventListener("click", () => rerun(request, button));
    const curlText = curl(succeeded ? await requestFor(kind, spec, true) : request);
    return el(
      "div",
      {},
      el("div", { className: "actions" }, button, el("span", { className: "hint", "data-seen": true, text: why })),
      block("Copy as curl", curlText, "curl command"),
    );
  }

  /* DELETE /tasks/{id} for this user (a shared job goes on for the others who asked for it). */
  async function cancelRun(taskId, button, then) {
    button.disabled = true;
    try {
      await S.api("DELETE", `/tasks/${encodeURIComponent(taskId)}`, { query: { user_id: S.user() } });
      say("Cancel requested.");
      document.dispatchEvent(new CustomEvent("soul:runs-changed"));
    } catch (err) {
      say(`Not canceled: ${err.message} (${err.code}).`);
      button.disabled = false;
    }
    if (then) then();
  }

  async function rerun(request, button) {
    button.disabled = true;
    say("Sending…");
    try {
      const { status, data } = await S.api(request.method, request.path, { query: request.query, body: request.body });
      if (status === 200 && data.variant) open({ variant: data.variant.variant_id }, data.cache_hit ? "Served from the cache: made earlier, so no wait." : "Ready.");
      else open({ task: data.task_id }, "Sent: following the new run.");
      document.dispatchEvent(new CustomEvent("soul:runs-changed"));
    } catch (err) {
      say(`Not sent: ${err.message} (${err.code}).`);
      button.disabled = false;
    }
  }

  /* Someone else's run (their link): what anyone holding it may see, or the API's reason it is not there. */
  async function fetchShared(ref) {
    const path = ref.task ? `/shared/tasks/${encodeURIComponent(ref.task)}` : `/shared/variants/${encodeURIComponent(ref.variant)}`;
    const shared = (await S.api("GET", path, { query: { user_id: S.user() } })).data;
    return { shared, kind: shared.kind, spec: { soul_id: shared.soul_id, cue: shared.cue }, variant: shared.variant };
  }

  async function fetchRef(ref) {
    const query = { user_id: S.user() };
    try {
      return await fetchOwn(ref, query);
    } catch (err) {
      if (err.status !== 404) throw err;
      return fetchShared(ref); // not this user's: the shared view, or the reason there is nothing to see
    }
  }

  async function fetchOwn(ref, query) {
    if (ref.variant) {
      const detail = (await S.api("GET", `/image/variant/${encodeURIComponent(ref.variant)}`, { query })).data;
      return { kind: detail.variant.kind, spec: detail.spec, variant: detail.variant, task: null, seenOf: detail };
    }
    const task = (await S.api("GET", `/tasks/${encodeURIComponent(ref.task)}`, { query })).data;
    let seenOf = null;
    if (task.result) {
      try {
        seenOf = (await S.api("GET", `/image/variant/${task.result.variant_id}`, { query })).data;
      } catch (_err) {
        seenOf = null; // shown to others, not to this user (they canceled for themselves)
      }
    }
    return { kind: task.kind, spec: task.spec, variant: task.result, task, seenOf };
  }

  async function render(ref, run) {
    const body = shell().querySelector("[data-body]");
    let got;
    try {
      got = await fetchRef(ref);
    } catch (err) {
      if (run === opened) body.replaceChildren(el("p", { className: "state state-failed", text: `Could not open it: ${err.message}` }));
      return;
    }
    if (run !== opened) return;
    if (got.shared) {
      body.replaceChildren(...(await sharedView(got)));
      body.dataset.ref = `shared:${ref.task ? `task=${ref.task}` : `variant=${ref.variant}`}`;
      watchMedia(body, ref, run);
      return;
    }
    const { kind, spec, variant, task, seenOf } = got;
    shell().querySelector("#detail-h").textContent = spec.cue || (variant && variant.label) || "Run";
    const done = !task || ["succeeded", "failed", "canceled"].includes(task.status);
    // SVD animates the source image and takes no text: say so rather than call its label a prompt.
    const prompt = kind === "svd" ? block("Source image's cue (SVD takes no text prompt)", spec.prompt, null) : block("Prompt sent", spec.prompt, "Prompt");
    const parts = [status(task, ref, run), variant ? outputs(variant) : null, prompt];
    if (spec.negative_prompt) parts.push(block("Negative prompt", spec.negative_prompt, null));
    parts.push(settings(kind, spec, variant, task));
    if (done) parts.push(await actions(kind, spec, seenOf, Boolean(variant)));
    if (run !== opened) return;
    const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.textContent : null;
    body.replaceChildren(...parts.filter(Boolean));
    body.dataset.ref = ref.task ? `task=${ref.task}` : `variant=${ref.variant}`;
    watchMedia(body, ref, run);
    if (focused) [...body.querySelectorAll("button, a")].find((b) => b.textContent === focused)?.focus();
    if (!done) setTimeout(() => run === opened && render(ref, run), LIVE_MS);
  }

  /* The shared view: whose it is ("another user", never their id), the output, and what the viewer can do. */
  async function sharedView({ shared, kind, spec, variant }) {
    shell().querySelector("#detail-h").textContent = shared.cue || "Shared run";
    const whose = shared.yours ? "Your run." : "Shared by another user. Their other runs, settings and name stay private.";
    const can = el("ul", { className: "can" }, ...shared.can.map((c) => el("li", { text: c })));
    const parts = [
      el("p", { className: "state", "data-shared": shared.yours ? "yours" : "theirs", text: whose }),
      outputs(variant),
      facts([["Soul", spec.soul_id], ["Kind", kind], ["Cue", spec.cue]]),
      el("section", { className: "block" }, el("h3", { text: "What you can do" }), can),
    ];
    const request = kind === "svd" || spec.soul_id === "direct" ? null : await requestFor(kind, spec);
    if (request && !shared.yours) {
      const button = el("button", { type: "button", className: "primary", "data-rerun": true, text: "Make my own" });
      button.addEventListener("click", () => rerun(request, button));
      const why = "Sends this cue as your request: a variant you have not seen comes back from the cache, else a new one is made. It becomes your run.";
      parts.push(el("div", { className: "actions" }, button, el("span", { className: "hint", text: why })));
    }
    return parts;
  }

  /* URLs are short-lived: a picture or clip whose URL expired while the dialog was open is signed again. */
  function watchMedia(body, ref, run) {
    for (const media of body.querySelectorAll("figure img, figure video")) {
      media.addEventListener("error", () => run === opened && resign(body, ref, run), { once: true });
    }
  }

  async function resign(body, ref, run) {
    let got;
    try {
      got = await fetchRef(ref);
    } catch (_err) {
      return; // the dialog says what it said; a broken picture stays broken
    }
    if (run !== opened || !got.variant) return;
    for (const [ext] of FORMATS) {
      const src = got.variant.urls[ext] && S.url(got.variant.urls[ext]);
      const figure = body.querySelector(`figure[data-format="${ext}"]`);
      if (!src || !figure) continue;
      figure.querySelector("img, video").src = src;
      for (const link of figure.querySelectorAll("a")) link.href = src;
    }
    body.dataset.resigned = String(Number(body.dataset.resigned || 0) + 1);
    watchMedia(body, ref, run);
  }

  /* `ref` is {task: id} or {variant: id}; `note` is said once it is open. */
  function open(ref, note) {
    const box = shell();
    const run = ++opened;
    box.querySelector("[data-body]").replaceChildren(el("p", { className: "hint", text: "Loading…" }));
    say(note || "");
    syncUrl(ref);
    if (!box.open) box.showModal();
    render(ref, run);
  }

  function fromHash(event) {
    const match = REF.exec(location.hash);
    if (match) {
      if (event && event.type === "hashchange" && !(dialog && dialog.open)) pushed = true; // a link in the page
      open({ [match[1]]: match[2] });
    } else if (dialog && dialog.open) {
      pushed = false; // Back (or a link elsewhere in the page) left the dialog's entry: close it
      dialog.close();
    }
  }

  window.addEventListener("hashchange", fromHash);
  document.addEventListener("DOMContentLoaded", fromHash);
  window.Soul.detail = { open, requestFor, curl };
})();
