"""Issue 29 items 5 and 9 and the token lifetime, through the app (Flask test client, SQLite): no
cross-site request forgery or DNS rebinding in dev mode, JSON routes take JSON only, CORS only for
SOUL_CORS_ORIGINS in token mode, security headers on pages and `no-store` on JSON, and no token that
lives longer than SOUL_TOKEN_MAX_LIFETIME_SECONDS. None of this depends on the record store (the refused
requests never reach it), so these run on SQLite only; the pages under the policy: tests/browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.context import Context
from infra import seed
from shared.bootstrap import build_backend
from shared.records import JOBS
from tests.conftest import make_settings
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
HOST = "127.0.0.1:8080"  # the server's own origin in these requests
CUE = {"soul_id": "nova", "cue": "penguin", "user_id": "victim"}
SELFIE = json.dumps({"soul_id": "nova", "city_key": "paris", "user_id": "victim"})


def _client(tmp_path: Path, **overrides: Any) -> tuple[FlaskClient, Any]:
    backend = build_backend(make_settings(tmp_path / "data", **overrides))
    seed.load(backend)
    return create_app(Context.build(backend)).test_client(), backend


@pytest.fixture
def dev(tmp_path: Path) -> tuple[FlaskClient, Any]:
    return _client(tmp_path)


@pytest.fixture
def token(tmp_path: Path) -> tuple[FlaskClient, Any]:
    return _client(
        tmp_path,
        soul_auth_mode="token",
        soul_signing_key="browser-test-signing-key",
        google_cloud_project=PROJECT,
        soul_jwks_file=ISSUER.write_jwks(tmp_path / "jwks.json"),
        soul_cors_origins="https://app.example.com",
    )


def _code(r: Any) -> str:
    return str(r.get_json()["error"]["code"])


# -- item 5: forgery, rebinding, content types, CORS ------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_json_routes_take_json_only_in_every_mode(dev: Any, token: Any, content_type: str) -> None:
    for client, headers in ((dev[0], {}), (token[0], ISSUER.bearer("victim"))):
        r = client.post("/image/selfie", data=SELFIE, headers={**headers, "Content-Type": content_type})
        assert r.status_code == 415 and _code(r) == "unsupported_media_type"
        r = client.post("/image/selfie", data=SELFIE, headers=headers)  # no type at all
        assert r.status_code == 415
    for _, backend in (dev, token):
        assert backend.store.count(JOBS) == 0


def test_dev_mode_refuses_cross_site_work_the_way_the_probe_sent_it(dev: Any) -> None:
    client, backend = dev
    base = {"Host": HOST}
    forged = [
        ("GET", "/wan-video/", CUE, None, {"Sec-Fetch-Site": "cross-site"}),  # <img src=…> from another site
        ("GET", "/image", CUE, None, {"Sec-Fetch-Site": "same-site"}),  # …or from another port of this host
        ("GET", "/image", CUE, None, {"Origin": "http://127.0.0.1:9999"}),
        ("POST", "/image/selfie", None, SELFIE, {"Origin": "http://evil.example", "Content-Type": "application/json"}),
        ("POST", "/image/mark-seen", {"variant_id": "v", "user_id": "victim"}, None, {"Sec-Fetch-Site": "cross-site"}),
        ("DELETE", "/tasks/abc", {"user_id": "victim"}, None, {"Origin": "null"}),
    ]
    for method, path, query, body, headers in forged:
        r = client.open(path, method=method, query_string=query, data=body, headers={**base, **headers})
        assert r.status_code == 403 and _code(r) == "forbidden", (method, path, headers, r.status_code)
    assert backend.store.count(JOBS) == 0  # nothing was started on the developer's account
    # Reads are not work: a cross-site page cannot read the answer anyway (no CORS in dev mode).
    assert client.get("/tasks", headers={**base, "Sec-Fetch-Site": "cross-site"}).status_code == 200
    # The pages themselves (same-origin), a typed URL (`none`) and curl (neither header) keep working.
    for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": f"http://{HOST}"}, {"Sec-Fetch-Site": "none"}, {}):
        assert client.get("/image", query_string=CUE, headers={**base, **headers}).status_code == 202
    r = client.post(
        "/image/selfie", data=SELFIE, headers={**base, "Origin": f"http://{HOST}"}, content_type="application/json"
    )
    assert r.status_code == 202


def test_dev_mode_serves_loopback_and_configured_hosts_only(dev: Any, tmp_path: Path) -> None:
    client, _ = dev
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for path in ("/healthz", "/", "/tasks", "/info"):  # a rebound name: refused before anything is read
        r = client.get(path, headers={"Host": "attacker.example:8080"})
        assert r.status_code == 403 and "SOUL_ALLOWED_HOSTS" in r.get_json()["error"]["message"], path
    lan, _ = _client(tmp_path / "lan", soul_allowed_hosts="soul.lan, 192.168.1.20")
    assert lan.get("/healthz", headers={"Host": "soul.lan:8080"}).status_code == 200
    assert lan.get("/healthz", headers={"Host": "192.168.1.20"}).status_code == 200
    assert lan.get("/healthz", headers={"Host": "other.lan"}).status_code == 403


def test_token_mode_answers_cors_for_listed_origins_only(token: Any) -> None:
    client, _ = token
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = client.options("/image/selfie", headers={**preflight, "Origin": "https://app.example.com"})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    no = client.options("/image/selfie", headers={**preflight, "Origin": "https://evil.example"})
    assert no.status_code == 403 and "Access-Control-Allow-Origin" not in no.headers
    alice = ISSUER.bearer("alice")
    listed = client.get("/tasks", headers={**alice, "Origin": "https://app.example.com"})
    assert (
        listed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        and "Origin" in listed.headers["Vary"]
    )
    other = client.get("/tasks", headers={**alice, "Origin": "https://evil.example"})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers  # the browser hides it
    # The bearer token is what stops forgery here: a cross-site request without one does nothing.
    assert client.get("/image", query_string=CUE, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 401


# -- item 9: security headers -----------------------------------------------------------------------
def _csp(r: Any) -> dict[str, str]:
    policy = r.headers["Content-Security-Policy"]
    return {d.split()[0]: d for d in (p.strip() for p in policy.split(";")) if d}


def test_pages_send_a_content_security_policy_and_the_other_headers(dev: Any) -> None:
    client, _ = dev
    for path in ("/", "/wan-video", "/runs", "/gallery", "/status"):
        r = client.get(path)
        assert r.status_code == 200 and r.mimetype == "text/html", path
        csp = _csp(r)
        assert csp["frame-ancestors"] == "frame-ancestors 'none'" and "'unsafe-inline'" not in csp["script-src"]
        assert csp["script-src"] == "script-src 'self'" and csp["object-src"] == "object-src 'none'"
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", r.get_data()), f"{path} has an inline script"


def test_the_api_docs_inline_script_is_allowed_by_its_hash_only(dev: Any) -> None:
    r = dev[0].get("/docs/")
    scripts = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", r.get_data(), re.S)
    assert scripts  # Swagger UI's page configures itself inline
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in _csp(r)["script-src"]
    assert "'unsafe-inline'" not in _csp(r)["script-src"]


def test_every_json_answer_with_a_signed_url_says_no_store(dev: Any) -> None:
    client, _ = dev
    r = client.get("/image", query_string={**CUE, "user_id": "u1"})
    assert r.status_code == 202 and r.headers["Cache-Control"] == "no-store"
    task = client.get(r.get_json()["status_url"], query_string={"user_id": "u1", "wait": 20})
    assert task.headers["Cache-Control"] == "no-store"
    for path in ("/tasks", "/info", "/healthz", "/image/user/u1/seen"):
        assert client.get(path, query_string={"user_id": "u1"}).headers["Cache-Control"] == "no-store", path
    assert client.get("/nope").headers["Cache-Control"] == "no-store"  # errors too


# -- also: a token that lives too long ---------------------------------------------------------------
def test_tokens_living_longer_than_the_maximum_are_refused(token: Any) -> None:
    client, _ = token

    def with_token(value: str) -> int:
        return client.get("/tasks", headers={"Authorization": f"Bearer {value}"}).status_code

    assert with_token(ISSUER.token("alice", ttl=3600)) == 200
    assert with_token(ISSUER.token("alice", ttl=86400)) == 200  # the default maximum, one day
    r = client.get("/tasks", headers={"Authorization": f"Bearer {ISSUER.token('alice', ttl=30 * 365 * 86400)}"})
    assert r.status_code == 401 and "lifetime" in r.get_json()["error"]["message"]
    now = int(time.time())
    old = ISSUER.token("alice", ttl=0, iat=now - 3 * 86400, exp=now + 600)  # minted for three days
    assert with_token(old) == 401


def test_dev_mode_idempotency_keys_are_per_named_user(dev: Any) -> None:
    """Item 7 in dev mode: the caller is the user the request names, so two users' `order-1` are two keys."""
    client, _ = dev
    key = {"Idempotency-Key": "order-1", "Content-Type": "application/json"}
    u1 = client.post(
        "/image/selfie", data=json.dumps({"soul_id": "nova", "city_key": "paris", "user_id": "u1"}), headers=key
    )
    u2 = client.post(
        "/image/selfie", data=json.dumps({"soul_id": "nova", "city_key": "tokyo", "user_id": "u2"}), headers=key
    )
    assert u1.status_code == u2.status_code == 202 and "Idempotent-Replayed" not in u2.headers
    again = client.post(
        "/image/selfie", data=json.dumps({"soul_id": "nova", "city_key": "paris", "user_id": "u1"}), headers=key
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
