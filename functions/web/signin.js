/* Token-mode sign-in for the Soul pages: email and password through Identity Platform's REST API
 * (accounts:signInWithPassword; the Firebase Auth emulator answers the same calls), the ID and refresh
 * tokens kept in sessionStorage, and a refresh through the Secure Token API a minute before the ID token
 * expires. No SDK and no external script: the endpoints and the web API key come from the server's
 * public /info (`sign_in`, set only in token mode). In dev mode nothing here acts. Exposed as
 * `window.SoulAuth`; common.js asks it for the Authorization header of every API call. */
"use strict";

(function () {
  const KEY = "soul.session";
  const MARGIN_MS = 60 * 1000; // refresh this long before the ID token expires
  // Every API call waits on a refresh, so a sign-in service that never answers must not hang the page:
  // the call fails in words after this long (Google answers in well under a second).
  const SIGN_IN_TIMEOUT_MS = 20 * 1000;
  const WORDS = {
    INVALID_LOGIN_CREDENTIALS: "Wrong email or password.",
    EMAIL_NOT_FOUND: "Wrong email or password.",
    INVALID_PASSWORD: "Wrong email or password.",
    INVALID_EMAIL: "That is not an email address.",
    USER_DISABLED: "This account is disabled.",
    TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts: try again later.",
  };
  let configured = null; // Promise of /info's `sign_in` (null: dev mode, or /info unreachable)
  let refreshing = null; // one refresh at a time, shared by the calls that need it

  function base() {
    const meta = document.querySelector('meta[name="soul-api"]');
    return ((meta && meta.content) || "").replace(/\/$/, "");
  }

  function config() {
    if (!configured) {
      configured = fetch(base() + "/info", { headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((info) => (info && info.sign_in) || null)
        .catch(() => null);
    }
    return configured;
  }

  function session() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (_err) {
      return null;
    }
  }

  function keep(idToken, refreshToken, expiresIn, subject, email) {
    const expiresAt = Date.now() + Number(expiresIn) * 1000;
    sessionStorage.setItem(KEY, JSON.stringify({ idToken, refreshToken, expiresAt, subject, email }));
  }

  function signInError(message, code) {
    const err = new Error(message);
    err.status = 401;
    err.code = code;
    return err;
  }

  /* POST to Identity Toolkit / Secure Token; their errors are {"error": {"message": "CODE : detail"}}. */
  async function post(url, body, type) {
    let response;
    try {
      const signal = AbortSignal.timeout(SIGN_IN_TIMEOUT_MS);
      response = await fetch(url, { method: "POST", headers: { "Content-Type": type }, body, signal });
    } catch (err) {
      throw signInError(`Could not reach the sign-in service (${err.message}).`, "network");
    }
    const data = await response.json().catch(() => null);
    if (!response.ok || !data) {
      const raw = (data && data.error && data.error.message) || `HTTP ${response.status}`;
      const code = raw.split(" ")[0];
      throw signInError(WORDS[code] || `Sign-in failed (${raw}).`, "sign_in_failed");
    }
    return data;
  }

  function endpoint(root, path, c) {
    return `${root}/${path}?key=${encodeURIComponent(c.api_key)}`;
  }

  async function signIn(email, password) {
    const c = await config();
    const body = JSON.stringify({ email, password, returnSecureToken: true });
    const url = endpoint(c.identity_toolkit_url, "accounts:signInWithPassword", c);
    const data = await post(url, body, "application/json");
    keep(data.idToken, data.refreshToken, data.expiresIn, data.localId, data.email);
  }

  async function refresh(c, current) {
    const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: current.refreshToken });
    const url = endpoint(c.secure_token_url, "token", c);
    const data = await post(url, body.toString(), "application/x-www-form-urlencoded");
    keep(data.id_token, data.refresh_token, data.expires_in, data.user_id, current.email);
  }

  /* The ID token for the next call, refreshed first when it is about to expire; null when signed out. */
  async function idToken(c) {
    const current = session();
    if (!current) return null;
    if (current.expiresAt - Date.now() > MARGIN_MS) return current.idToken;
    if (!refreshing) refreshing = refresh(c, current).finally(() => (refreshing = null));
    try {
      await refreshing;
    } catch (_err) {
      signOut();
      return null;
    }
    return session().idToken;
  }

  /* common.js: the Authorization header value; null in dev mode and when signed out (public routes
   * such as /info still answer). */
  async function authorization() {
    const c = await config();
    const token = c ? await idToken(c) : null;
    return token ? `Bearer ${token}` : null;
  }

  /* common.js: the API answered 401. Token mode: forget any token and show the sign-in form; the call
   * fails with `sign_in_required` (words, not a raw 401). Dev mode: null (the caller reports the 401). */
  async function rejected() {
    if (!(await config())) return null;
    const had = session();
    signOut();
    showForm();
    const words = had ? "Your sign-in has ended: sign in again." : "Sign in to use Soul.";
    return signInError(words, "sign_in_required");
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
  }

  function subject() {
    const current = session();
    return current ? current.subject : null;
  }

  // -- the form (built here: the pages' HTML stays the same in both modes) ------------------------------
  function field(name, label, type, autocomplete) {
    const wrap = document.createElement("p");
    const text = document.createElement("label");
    text.htmlFor = `sign-in-${name}`;
    text.textContent = label;
    const input = document.createElement("input");
    Object.assign(input, { id: `sign-in-${name}`, name, type, autocomplete, required: true });
    wrap.append(text, input);
    return wrap;
  }

  function showForm() {
    if (document.getElementById("sign-in")) return;
    const form = document.createElement("form");
    form.id = "sign-in";
    form.className = "card sign-in";
    form.setAttribute("aria-labelledby", "sign-in-title");
    const title = document.createElement("h2");
    title.id = "sign-in-title";
    title.textContent = "Sign in";
    const message = document.createElement("p");
    message.id = "sign-in-error";
    message.setAttribute("role", "alert");
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Sign in";
    form.append(title, field("email", "Email", "email", "username"));
    form.append(field("password", "Password", "password", "current-password"), button, message);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      message.textContent = "";
      try {
        await signIn(form.elements.email.value.trim(), form.elements.password.value);
        location.reload(); // every part of the page loads again, now with the token
      } catch (err) {
        message.textContent = err.message;
      }
    });
    const main = document.getElementById("main") || document.body;
    main.prepend(form);
    form.elements.email.focus();
  }

  /* Token mode: the dev-mode user field gives way to who is signed in and a sign-out button. */
  async function initHeader() {
    const c = await config();
    const input = document.getElementById("user-id");
    if (!c || !input) return;
    const box = input.closest(".user") || input.parentElement;
    const current = session();
    const who = document.createElement("span");
    who.id = "signed-in-as";
    who.textContent = current ? `Signed in as ${current.email || current.subject}` : "Not signed in";
    const out = document.createElement("button");
    out.type = "button";
    out.className = "link";
    out.textContent = current ? "Sign out" : "Sign in";
    out.addEventListener("click", () => {
      signOut();
      location.reload();
    });
    box.replaceChildren(input, who, out);
    input.hidden = true; // still read by the scripts that call Soul.user(), which answers the subject
  }

  document.addEventListener("DOMContentLoaded", initHeader);
  window.SoulAuth = { config, authorization, rejected, subject, signIn, signOut };
})();
