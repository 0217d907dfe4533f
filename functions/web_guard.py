"""What a browser may do with the API (docs/THREATS.md, "Browsers"): request forgery, DNS rebinding,
CORS and the security headers of every response.

- JSON routes take `application/json` only (415 otherwise), in every mode: a page on another site can
  send `text/plain` or a form without a preflight, never `application/json`.
- Dev mode trusts the `user_id` a request names, so the browser is the only line: a request that
  creates work or changes state is refused (403) when the browser says it comes from another site or
  origin (`Sec-Fetch-Site` other than `same-origin` / `none`; a page on another port of the same host
  is `same-site`, which is refused too) or carries an `Origin` that is not this server's. Every route
  refuses a `Host` that is not loopback or in SOUL_ALLOWED_HOSTS (DNS rebinding: a hostile name that
  resolves to 127.0.0.1 would otherwise be same-origin with the page that asks).
- Token mode: the bearer token stops forgery (a browser never attaches it by itself). Pages on other
  origins may call the API only when listed in SOUL_CORS_ORIGINS: their preflight is answered and
  their responses carry `Access-Control-Allow-Origin`; nothing is allowed for anyone else.
- Headers: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
  `X-Frame-Options: DENY` on everything; a Content-Security-Policy on HTML (no inline script unless
  its hash is listed: inline scripts in a rendered page, such as the API docs, are hashed here;
  `frame-ancestors 'none'`); `Cache-Control: no-store` on every JSON answer (they carry signed URLs
  and per-user data).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from urllib.parse import urlsplit

from flask import Request, Response

from functions.routing import Route
from shared.config import Settings
from shared.errors import Forbidden, UnsupportedMediaType

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SAME_ORIGIN = frozenset({"same-origin", "none"})  # `none`: typed in the address bar, a bookmark
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
CORS_METHODS = "GET, POST, DELETE"
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_EXPOSED = "Retry-After, Idempotent-Replayed"


def _names(value: str) -> frozenset[str]:
    return frozenset(v.strip().lower().rstrip("/") for v in value.split(",") if v.strip())


def changes_state(route: Route) -> bool:
    """POST and DELETE routes, and GET routes that may enqueue work (they answer 202 with a task)."""
    return route.method != "GET" or 202 in route.responses


def check_host(request: Request, settings: Settings) -> None:
    """Dev mode: the Host must be loopback or a configured name (DNS rebinding)."""
    if settings.soul_auth_mode != "dev":
        return
    host = (urlsplit(f"//{request.host}").hostname or "").lower()
    if host not in LOOPBACK and host not in _names(settings.soul_allowed_hosts):
        raise Forbidden(f"host '{host[:64]}' is not served in dev mode (loopback only; add it to SOUL_ALLOWED_HOSTS)")


def check_route(route: Route, request: Request, settings: Settings) -> None:
    """415 for a JSON route sent anything but JSON; dev mode: 403 for a cross-site state change."""
    if route.body is not None and request.mimetype != "application/json":
        raise UnsupportedMediaType("this route takes a JSON body: send Content-Type: application/json")
    if settings.soul_auth_mode == "dev" and changes_state(route):
        check_same_origin(request)


def check_same_origin(request: Request) -> None:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in SAME_ORIGIN:
        raise Forbidden("cross-site requests may not create work or change state (dev mode)")
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower().rstrip("/") != f"{request.scheme}://{request.host}".lower():
        raise Forbidden("requests from another origin may not create work or change state (dev mode)")


def cors_origin(request: Request, settings: Settings) -> str | None:
    """The request's Origin when token mode allows it cross-origin (SOUL_CORS_ORIGINS), else None."""
    origin = request.headers.get("Origin")
    if settings.soul_auth_mode != "token" or not origin:
        return None
    return origin if origin.lower().rstrip("/") in _names(settings.soul_cors_origins) else None


def preflight(request: Request, settings: Settings) -> Response | None:
    """A CORS preflight: 204 with the allowed methods and headers for a listed origin, else 403."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = cors_origin(request, settings)
    if origin is None:
        raise Forbidden("cross-origin requests are not allowed from this origin (SOUL_CORS_ORIGINS)")
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": CORS_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }
    return Response(status=204, headers=headers)


def _sha256(source: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source).digest()).decode() + "'"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def sign_in_origins(settings: Settings) -> tuple[str, ...]:
    """Token mode: the Identity Toolkit and Secure Token endpoints the pages sign in and refresh at."""
    if settings.soul_auth_mode != "token":
        return ()
    urls = (settings.soul_identity_toolkit_url, settings.soul_secure_token_url)
    return tuple(dict.fromkeys(o for o in map(_origin, urls) if o))


def csp(body: bytes | None, connect: tuple[str, ...] = ()) -> str:
    """The pages' policy; inline scripts of a rendered page (`body`) are allowed by their hash only;
    `connect` adds the sign-in endpoints' origins to connect-src (token mode)."""
    hashes = " ".join(_sha256(m) for m in INLINE_SCRIPT.findall(body or b""))
    media = "'self' data: blob: https:"
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")  # the rehearsal's fake GCS serves plain http
    if emulator:
        media += " " + (emulator if "://" in emulator else f"http://{emulator}").rstrip("/")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",
            f"img-src {media}",
            f"media-src {media}",
            " ".join(["connect-src 'self'", *connect]),
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def secure(response: Response, request: Request, settings: Settings) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        body = None if response.direct_passthrough else response.get_data()  # files: no inline scripts
        headers["Content-Security-Policy"] = csp(body, sign_in_origins(settings))
    if response.mimetype == "application/json" or response.status_code in (301, 302, 303, 307, 308):
        headers["Cache-Control"] = "no-store"  # signed URLs and per-user data: never in a shared cache
    origin = cors_origin(request, settings)
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = CORS_EXPOSED
        headers.add("Vary", "Origin")
    return response
