"""ID-token verification: signature, issuer, audience, expiry, algorithm; keys from a JWKS file or a
local JWKS URL (a real loopback HTTP server), fetched once and cached."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest

from functions.tokens import JwtVerifier, KeySource
from shared.errors import NotConfigured, Unauthenticated, Unavailable
from tests.conftest import free_port, make_settings
from tests.fakes.id_tokens import ISSUER, PROJECT, LocalIssuer

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture
def verifier(issuer: LocalIssuer, tmp_path: Path) -> JwtVerifier:
    keys = KeySource(file=issuer.write_jwks(tmp_path / "jwks.json"))
    return JwtVerifier(keys, issuer=ISSUER, audience=PROJECT)


class JwksServer:
    def __init__(self, body: str) -> None:
        self.body, self.hits = body, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server(issuer: LocalIssuer) -> Iterator[JwksServer]:
    server = JwksServer(issuer.jwks())
    yield server
    server.stop()


def test_a_valid_token_gives_its_subject(verifier: JwtVerifier, issuer: LocalIssuer) -> None:
    assert verifier.claims(issuer.token("alice"))["sub"] == "alice"
    assert verifier.claims(issuer.token("root", soul_admin=True))["soul_admin"] is True


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda i: i.token("alice", ttl=-120), "expired"),
        (lambda i: i.token("alice", aud="another-project"), "audience"),
        (lambda i: i.token("alice", iss="https://securetoken.google.com/evil"), "issuer"),
        (lambda i: i.token("alice", kid="rotated-away"), "unknown key"),
        (lambda i: i.token(""), "subject"),
        (lambda i: LocalIssuer(i.kid).token("alice"), "invalid token"),  # same kid, other key: bad signature
        (lambda i: jwt.encode({"sub": "a", "iss": ISSUER, "aud": PROJECT}, "k" * 32, "HS256"), "RS256"),
        (lambda i: "not.a.token", "malformed"),
        (lambda i: "x" * 10_000, "malformed"),
    ],
)
def test_bad_tokens_are_refused(verifier: JwtVerifier, issuer: LocalIssuer, make: object, reason: str) -> None:
    token = make(issuer)  # type: ignore[operator]
    with pytest.raises(Unauthenticated, match=reason) as err:
        verifier.claims(token)
    assert token[:40] not in str(err.value)  # the token is never echoed


def test_missing_claims_are_refused(verifier: JwtVerifier, issuer: LocalIssuer) -> None:
    token = jwt.encode(
        {"sub": "alice", "iss": ISSUER, "aud": PROJECT},
        issuer.private_key,
        algorithm="RS256",
        headers={"kid": issuer.kid},
    )
    with pytest.raises(Unauthenticated, match="invalid token"):
        verifier.claims(token)


def test_unsigned_alg_none_is_refused(verifier: JwtVerifier) -> None:
    token = jwt.encode({"sub": "alice", "iss": ISSUER, "aud": PROJECT}, None, algorithm="none")
    with pytest.raises(Unauthenticated):
        verifier.claims(token)


def test_keys_from_a_url_are_fetched_once_and_cached(jwks_server: JwksServer, issuer: LocalIssuer) -> None:
    verifier = JwtVerifier(KeySource(url=jwks_server.url), issuer=ISSUER, audience=PROJECT)
    assert jwks_server.hits == 0  # nothing fetched at construction
    for user in ("a", "b", "c", "d", "e"):
        assert verifier.claims(issuer.token(user))["sub"] == user
    assert jwks_server.hits == 1


def test_a_rotated_key_is_picked_up_from_the_url(jwks_server: JwksServer, issuer: LocalIssuer) -> None:
    verifier = JwtVerifier(KeySource(url=jwks_server.url, refetch_cooldown=0), issuer=ISSUER, audience=PROJECT)
    assert verifier.claims(issuer.token("a"))["sub"] == "a"
    rotated = LocalIssuer("test-key-2")
    jwks_server.body = rotated.jwks()
    assert verifier.claims(rotated.token("b"))["sub"] == "b"  # unknown kid → one refetch
    assert jwks_server.hits == 2


def test_unknown_kids_cannot_force_refetches(jwks_server: JwksServer, issuer: LocalIssuer) -> None:
    verifier = JwtVerifier(KeySource(url=jwks_server.url), issuer=ISSUER, audience=PROJECT)
    assert verifier.claims(issuer.token("a"))["sub"] == "a"
    for i in range(20):
        with pytest.raises(Unauthenticated, match="unknown key"):
            verifier.claims(issuer.token("a", kid=f"made-up-{i}"))
    assert jwks_server.hits == 1  # within the cooldown: no refetch


def test_an_unreachable_jwks_is_503_not_401(issuer: LocalIssuer) -> None:
    verifier = JwtVerifier(KeySource(url=f"http://127.0.0.1:{free_port()}/jwks"), issuer=ISSUER, audience=PROJECT)
    with pytest.raises(Unavailable):
        verifier.claims(issuer.token("a"))


def test_configuration_is_checked(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured, match="https"):
        KeySource(url="http://keys.example.com/jwks")
    with pytest.raises(NotConfigured):
        KeySource()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    verifier = JwtVerifier(KeySource(file=bad), issuer=ISSUER, audience=PROJECT)
    with pytest.raises(NotConfigured):
        verifier.claims(LocalIssuer().token("a"))


def test_from_settings_defaults_to_firebase_auth_of_the_project(tmp_path: Path, issuer: LocalIssuer) -> None:
    settings = make_settings(
        tmp_path, google_cloud_project=PROJECT, soul_jwks_file=issuer.write_jwks(tmp_path / "k.json")
    )
    assert JwtVerifier.from_settings(settings).claims(issuer.token("zoe"))["sub"] == "zoe"


@pytest.mark.parametrize(
    "header",
    ['{"alg":"RS256","kid":5}', '{"alg":"RS256","kid":[1]}', '{"alg":"RS256","kid":null}', "[1]", '"x"', "{"],
)
def test_a_malformed_header_is_unauthenticated_not_a_crash(verifier: JwtVerifier, header: str) -> None:
    """Issue 16: PyJWT raises InvalidTokenError (not DecodeError) for a non-string kid."""
    encoded = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        verifier.claims(f"{encoded}.e30.AAAA")
