"""Issue 16's token-mode probes over real HTTP against `soul dev` (SOUL_AUTH_MODE=token): every
malformed token is a 401 (never a 500), every route but health, docs and the static pages needs a
verified caller, and the statistics need an administrator."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SoulDev
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _forged(header: object, payload: object = None) -> str:
    return f"{_b64(header)}.{_b64(payload if payload is not None else {})}.AAAA"


MALFORMED = [
    "eyJhbGciOiJSUzI1NiIsImtpZCI6NX0.e30.AAAA",  # the probe's own: {"alg": "RS256", "kid": 5}
    _forged({"alg": "RS256", "kid": [1]}),
    _forged({"alg": "RS256", "kid": {"a": 1}}),
    _forged({"alg": "RS256", "kid": None}),
    _forged({"alg": "RS256"}),
    _forged({"alg": ["RS256"], "kid": "test-key-1"}),
    _forged({"alg": "none", "kid": "test-key-1"}),
    _forged({"alg": "HS256", "kid": "test-key-1"}),
    _forged({"alg": "RS256", "kid": "unknown-kid"}),
    _forged({"alg": "RS256", "kid": "test-key-1"}, {"sub": 5}),
    _forged([1, 2]),
    _forged("just a string"),
    f"{_b64({'alg': 'RS256', 'kid': 'test-key-1'})}.bm90IGpzb24.AAAA",  # payload not JSON
    "a.b",
    "....",
    "x" * 10_000,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoulDev]:
    root = tmp_path_factory.mktemp("tokens")
    env = {
        "SOUL_AUTH_MODE": "token",
        "SOUL_JWKS_FILE": str(ISSUER.write_jwks(root / "jwks.json")),
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "SOUL_SIGNING_KEY": "hardening-test-signing-key",
        "SOUL_ADMIN_SUBJECTS": "root, ops@example.com",
    }
    dev = SoulDev(root / "data", env)
    yield dev
    dev.stop()


@pytest.mark.parametrize("token", MALFORMED, ids=range(len(MALFORMED)))
def test_every_malformed_token_is_401(server: SoulDev, token: str) -> None:
    r = httpx.get(f"{server.url}/tasks", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthenticated" and token[:20] not in r.text  # never echoed


@pytest.mark.parametrize("value", ["Bearer", "Basic YWxpY2U6eA==", "bearer", "Bearer \u00e9t\u00e9", "Bearer a b c"])
def test_malformed_authorization_headers_are_401(server: SoulDev, value: str) -> None:
    r = httpx.get(f"{server.url}/tasks", headers={b"Authorization": value.encode("latin-1")})
    assert r.status_code == 401, r.text


NEEDS_A_CALLER = [
    "/image/variants/0123456789abcdef",
    "/media/abc.png",
    "/generated/abc.png",
    "/tasks/stats/summary",
    "/tasks",
    "/tasks/abc",
    "/style",
    "/style/nova",
    "/places",
    "/video/estimate",
    "/image/user/alice/seen",
    "/image/variant/abc",
]
OPEN = ["/healthz", "/ready", "/info", "/openapi.json", "/docs/", "/", "/wan-video", "/status"]


def test_reads_need_a_verified_caller(server: SoulDev) -> None:
    for path in NEEDS_A_CALLER:
        r = httpx.get(server.url + path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", path
        r = httpx.get(server.url + path, headers={"X-User-Id": "alice"})  # dev-mode header: not trusted
        assert r.status_code == 401, path
    alice = ISSUER.bearer("alice")
    assert httpx.get(f"{server.url}/style/nova", headers=alice).status_code == 200
    assert httpx.get(f"{server.url}/media/abc.png", headers=alice).status_code == 404  # verified: a plain 404
    for path in OPEN:
        assert httpx.get(server.url + path).status_code == 200, path


def test_stats_are_for_administrators(server: SoulDev) -> None:
    url = f"{server.url}/tasks/stats/summary"
    assert httpx.get(url, headers=ISSUER.bearer("alice")).status_code == 403
    assert httpx.get(url, headers=ISSUER.bearer("alice", soul_admin="true")).status_code == 403  # claim must be true
    assert httpx.get(url, headers=ISSUER.bearer("root")).status_code == 200  # SOUL_ADMIN_SUBJECTS
    assert httpx.get(url, headers=ISSUER.bearer("ops@example.com")).status_code == 200
    assert httpx.get(url, headers=ISSUER.bearer("alice", soul_admin=True)).status_code == 200  # the claim
