/* Soul web pages: what every page shares — the API client (with signin.js's token in token mode), the
 * dev-mode user id, the alert region, the soul / city pickers and the generator info. (job.js follows a task;
 * status.js is the status view; fields.js checks form fields against the API's own limits.)
 * Plain browser JavaScript, no build step, no external URL. Exposed as `window.Soul`. */
"use strict";

(function () {
  const USER_KEY = "soul.user_id";
  const DEFAULT_USER = "web-user";
  const USER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@:-]*$/;
  // Deployed as static files, the pages can point at the API elsewhere: <meta name="soul-api" content="https://…">.
  const meta = document.querySelector('meta[name="soul-api"]');
  const BASE = ((meta && meta.content) || "").replace(/\/$/, "");

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field || null; // the request field at fault (a 422), shown next to that field
    }
  }

  const HINTS = {
    not_configured: "Text-to-video is not set up on this server yet.",
    network: "Check your connection and try again. If it keeps failing, the service may be down.",
    invalid_input: "Check the form fields and try again.",
    rate_limited: "Too many requests: wait a moment and try again.",
  };

  // A run that failed, in a consumer's words: the worker's message names what an operator sets (a
  // variable, a model path), which belongs on /status and in the logs, not on the pages people use.
  const FAILURES = {
    not_configured: "this kind of run is not set up on this server yet.",
    model_unavailable: "the model for this kind of run is not installed on this server yet.",
  };

  function failure(task) {
    const error = task.error;
    if (!error) return "no reason given";
    return FAILURES[error.code] || error.message;
  }

  /* A captioned two-column table of [name, value] rows; each value cell carries data-<dataKey>=name. */
  function table(caption, rows, dataKey) {
    const el = document.createElement("table");
    const cap = document.createElement("caption");
    cap.textContent = caption;
    const body = document.createElement("tbody");
    for (const [name, value] of rows) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = name;
      const td = document.createElement("td");
      td.textContent = String(value);
      td.dataset[dataKey] = name;
      tr.append(th, td);
      body.append(tr);
    }
    el.append(cap, body);
    return el;
  }

  function url(path) {
    return path && path.startsWith("/") ? BASE + path : path;
  }

  async function api(method, path, options = {}) {
    const target = new URL(url(path), location.href);
    for (const [key, value] of Object.entries(options.query || {})) {
      if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, value);
    }
    const init = { method, headers: { Accept: "application/json" } };
    const auth = window.SoulAuth;
    const bearer = auth ? await auth.authorization() : null; // token mode, signed in (signin.js)
    if (bearer) init.headers.Authorization = bearer;
    if (options.body) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch(target, init);
    } catch (err) {
      throw new ApiError(0, "network", `Could not reach the Soul API (${err.message}).`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_err) {
      data = null;
    }
    const signIn = response.status === 401 && auth ? await auth.rejected() : null; // token mode: the form
    if (signIn) throw signIn;
    if (!response.ok) {
      const error = data && data.error;
      const message = (error && error.message) || `The server answered ${response.status} ${response.statusText}.`;
      throw new ApiError(response.status, (error && error.code) || `http_${response.status}`, message, error && error.field);
    }
    if (data === null) throw new ApiError(response.status, "bad_response", "The server's answer was not JSON.");
    return { status: response.status, data };
  }

  // -- alert region (role="alert": screen readers announce each new message) ------------------------
  function showError(err, context) {
    const region = document.getElementById("alerts");
    const code = err.code || "error";
    const item = document.createElement("div");
    item.className = "alert";
    item.dataset.code = code;
    const text = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = context ? `${context}: ` : "Error: ";
    text.append(strong, err.message || String(err), " ");
    const codeEl = document.createElement("code");
    codeEl.textContent = `(${code})`;
    text.append(codeEl);
    item.append(text);
    if (HINTS[code]) {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = HINTS[code];
      item.append(hint);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => item.remove());
    item.append(close);
    region.replaceChildren(item);
  }

  function clearError() {
    document.getElementById("alerts").replaceChildren();
  }

  // -- dev-mode identity: a text field remembered in localStorage ------------------------------------
  function initUser() {
    const input = document.getElementById("user-id");
    input.value = localStorage.getItem(USER_KEY) || DEFAULT_USER;
    input.addEventListener("change", () => {
      const value = input.value.trim();
      if (!USER_PATTERN.test(value)) {
        input.setAttribute("aria-invalid", "true");
        const rule = "letters, digits and _ . @ : - only, starting with a letter or digit.";
        showError(new ApiError(0, "invalid_input", rule), "User id");
        return;
      }
      input.removeAttribute("aria-invalid");
      localStorage.setItem(USER_KEY, value);
      document.dispatchEvent(new CustomEvent("soul:user", { detail: value }));
    });
  }

  function user() {
    const signedIn = window.SoulAuth && window.SoulAuth.subject(); // token mode: the token's subject
    if (signedIn) return signedIn;
    // Before initUser() has filled the field (a script that runs first), the remembered id still counts.
    const input = document.getElementById("user-id");
    return (input && input.value.trim()) || localStorage.getItem(USER_KEY) || DEFAULT_USER;
  }

  // -- pickers -----------------------------------------------------------------------------------
  function option(value, label) {
    const el = document.createElement("option");
    el.value = value;
    el.textContent = label;
    return el;
  }

  /* Fills each soul <select>; its describing element (aria-describedby) says what the chosen soul is.
   * Resolves to the souls (style profiles), or [] when they could not be loaded. */
  async function loadSouls(selects) {
    try {
      const { data } = await api("GET", "/style");
      const styles = data.styles.filter((s) => !s.archived);
      for (const select of selects) {
        select.replaceChildren(...styles.map((s) => option(s.soul_id, `${s.display_name || s.soul_id} (${s.soul_id})`)));
        const about = document.getElementById((select.getAttribute("aria-describedby") || "").split(" ")[0]);
        const describe = () => {
          const soul = styles.find((s) => s.soul_id === select.value);
          if (about && soul) about.textContent = soul.description || "";
          select.dispatchEvent(new CustomEvent("soul:soul", { bubbles: true, detail: soul }));
        };
        select.addEventListener("change", describe);
        describe();
      }
      return styles;
    } catch (err) {
      showError(err, "Loading the souls");
      return [];
    }
  }

  async function loadPlaces(selects) {
    try {
      const { data } = await api("GET", "/places");
      for (const select of selects) {
        select.replaceChildren(...data.cities.map((c) => option(c.city_key, c.name)));
        const hint = document.getElementById(select.getAttribute("aria-describedby"));
        const describe = () => {
          const city = data.cities.find((c) => c.city_key === select.value);
          if (hint && city) hint.textContent = `Landmarks: ${city.landmarks.map((l) => l.name).join(", ")}`;
        };
        select.addEventListener("change", describe);
        describe();
      }
    } catch (err) {
      showError(err, "Loading the places");
    }
  }

  /* The footer says what makes the pictures, so a preview placeholder is never passed off as a model. The
   * status page has the operator's view (each lane, backend, auth); the other pages one short honest line. */
  async function loadInfo() {
    const el = document.getElementById("generators");
    try {
      const { data } = await api("GET", "/info");
      if (document.body.dataset.page === "status") {
        const parts = Object.entries(data.generators).map(([kind, what]) => `${kind}: ${what}`);
        el.textContent = `Generators: ${parts.join(" · ")} — backend ${data.backend}, auth ${data.auth_mode}.`;
      } else {
        el.textContent = consumerNote(data.lanes || {});
      }
      return data;
    } catch (_err) {
      el.textContent = "Could not tell what makes the pictures here.";
      return null;
    }
  }

  function consumerNote(lanes) {
    const previews = ["image", "video"].filter((lane) => lanes[lane] && lanes[lane].real === false);
    if (!previews.length) return "Pictures and clips are made by this server's models.";
    const what = previews.length === 2 ? "images, GIFs and clips" : previews[0] === "image" ? "images" : "GIFs and clips";
    return `Placeholder mode: ${what} here are labelled previews (marked PREVIEW), not model output.`;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /* Pages use a <form>; this reads its named fields and ignores a second submit while the request is
   * out. The button is not disabled, so keyboard focus stays where it was. */
  function onSubmit(form, handler) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      clearError();
      form.setAttribute("aria-busy", "true");
      try {
        await handler(Object.fromEntries(new FormData(form).entries()));
      } finally {
        form.setAttribute("aria-busy", "false");
      }
    });
  }

  // -- words for numbers and times --------------------------------------------------------------
  function seconds(value) {
    if (value === null || value === undefined) return "–";
    if (value < 10) return `${value.toFixed(1)} s`;
    if (value < 120) return `${Math.round(value)} s`;
    return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  }

  function ago(epochSeconds) {
    const diff = Math.max(0, Date.now() / 1000 - epochSeconds);
    if (diff < 60) return "just now";
    if (diff < 3600) return `${Math.floor(diff / 60)} min ago`;
    if (diff < 86400) return `${Math.floor(diff / 3600)} h ago`;
    return new Date(epochSeconds * 1000).toLocaleDateString();
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key in node && key !== "list") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  window.Soul = { ApiError, api, url, user, initUser, showError, clearError, loadSouls, loadPlaces, loadInfo };
  Object.assign(window.Soul, { onSubmit, sleep, seconds, ago, el, failure, table });
})();
