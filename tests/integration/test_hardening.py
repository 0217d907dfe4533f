"""Issue 16's hostile probes, over real HTTP against `soul dev` (dev auth mode): nested and oversized
JSON, non-UTF-8 text, mark-seen laundering, the idempotency 409, a busy port, the token-mode signing
key. Token-mode probes: test_hardening_tokens.py; long polls: test_hardening_longpoll.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.bootstrap import build_backend
from shared.ids import digest
from shared.records import IDEMPOTENCY
from tests.conftest import ROOT, SoulDev, make_settings

pytestmark = pytest.mark.integration

JSON_POSTS = ["/style", "/image/selfie", "/video/generate", "/wan-video/selfie", "/wan-video/generate-direct"]
SELFIE = {"soul_id": "nova", "city_key": "paris", "user_id": "u1"}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoulDev]:
    server = SoulDev(tmp_path_factory.mktemp("hardening") / "data", {"SOUL_PREVIEW_STEP_SECONDS": "0"})
    yield server
    server.stop()


def _error(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    error: dict[str, str] = r.json()["error"]
    assert "Traceback" not in r.text and ".py" not in r.text
    return error


def _no_errors_logged(server: SoulDev) -> None:
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and '"level": "ERROR"' not in log and "ERROR" not in log, log[-2000:]


@pytest.mark.parametrize("path", JSON_POSTS)
def test_deeply_nested_json_is_400_before_auth(dev: SoulDev, path: str) -> None:
    headers = {"Content-Type": "application/json"}
    r = httpx.post(dev.url + path, content="[" * 1500, headers=headers)
    assert "nests deeper" in _error(r, 400)["message"]
    nested: object = "x"
    for _ in range(40):  # valid JSON, well under the parser's recursion limit, past ours
        nested = {"a": nested}
    r = httpx.post(dev.url + path, content=json.dumps({**SELFIE, "mood": nested}), headers=headers)
    assert "nests deeper" in _error(r, 400)["message"]
    _no_errors_logged(dev)


def test_oversized_body_is_413_json(dev: SoulDev) -> None:
    big = json.dumps({**SELFIE, "mood": "x" * 200_000})
    r = httpx.post(dev.url + "/image/selfie", content=big, headers={"Content-Type": "application/json"})
    _error(r, 413)
    _no_errors_logged(dev)


@pytest.mark.parametrize("query", ["cue=%ED%A0%80abc", "cue=abc%FF", "cue=ok&user_id=%C3"])
def test_non_utf8_query_text_is_422(dev: SoulDev, query: str) -> None:
    base = "soul_id=nova&user_id=u1&" if "user_id" not in query else "soul_id=nova&"
    r = httpx.get(f"{dev.url}/image?{base}{query}")
    assert "UTF-8" in _error(r, 422)["message"]


def test_lone_surrogate_in_a_json_body_is_422(dev: SoulDev) -> None:
    body = '{"soul_id": "nova", "city_key": "paris", "user_id": "u1", "mood": "\\ud800 sunny"}'
    r = httpx.post(dev.url + "/image/selfie", content=body, headers={"Content-Type": "application/json"})
    assert "UTF-8" in _error(r, 422)["message"]
    raw = b'{"soul_id": "nova", "city_key": "paris", "user_id": "u1", "mood": "\xed\xa0\x80"}'
    json_type = {"Content-Type": "application/json"}
    r = httpx.post(dev.url + "/image/selfie", content=raw, headers=json_type)  # an encoded surrogate: invalid UTF-8
    assert "UTF-8" in _error(r, 422)["message"]
    r = httpx.post(dev.url + "/image/selfie", content=b'{"mood": "\xff"}', headers=json_type)
    assert _error(r, 400)["code"] == "bad_request"  # not decodable at all: not JSON


def _variant(dev: SoulDev, user: str, cue: str) -> str:
    r = httpx.get(f"{dev.url}/image", params={"soul_id": "nova", "cue": cue, "user_id": user, "wait": 30}, timeout=40)
    assert r.status_code == 200, r.text
    variant_id: str = r.json()["variant_id"]
    return variant_id


def test_mark_seen_cannot_launder_another_users_variant(dev: SoulDev) -> None:
    victim = _variant(dev, "victim", "a lighthouse at dusk")
    for attacker in ("mallory", "victim2"):
        r = httpx.post(f"{dev.url}/image/mark-seen", params={"variant_id": victim, "user_id": attacker})
        _error(r, 404)
        r = httpx.post(f"{dev.url}/video/generate-from-variant", params={"variant_id": victim, "user_id": attacker})
        _error(r, 404)
        assert httpx.get(f"{dev.url}/image/user/{attacker}/seen").json()["variant_ids"] == []
    r = httpx.post(f"{dev.url}/image/mark-seen", params={"variant_id": victim, "user_id": "victim"})
    assert r.status_code == 200 and r.json()["seen"] is True  # the user it was served to may confirm it


def test_idempotency_conflict_says_when_to_retry(dev: SoulDev) -> None:
    body = json.dumps(SELFIE)
    key = "probe-key-1"
    # The first request with this key is still running: its pending reservation is in the server's store.
    store = build_backend(make_settings(dev.log.parent / "data")).store
    fingerprint = digest(["/image/selfie", {}, {}, body])
    pending = {"fingerprint": fingerprint, "state": "pending", "created_at": 9e9}
    store.set(IDEMPOTENCY, digest("idempotency", "u1", key), pending)  # dev mode: the caller is the user named
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    r = httpx.post(dev.url + "/image/selfie", content=body, headers=headers)
    assert _error(r, 409)["code"] == "conflict"
    assert int(r.headers["Retry-After"]) >= 1


def _soul_dev(tmp_path: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SOUL_DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING", **env}
    cmd = [sys.executable, "-m", "infra.cli", "dev", "--port", str(port)]
    return subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=60, check=False)


def test_busy_port_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _soul_dev(tmp_path, port)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f":{port}" in lines[0] and "make dev PORT=" in lines[0], done.stderr


def test_token_mode_on_local_refuses_the_default_signing_key(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _soul_dev(tmp_path, port, SOUL_AUTH_MODE="token", SOUL_JWKS_FILE=str(tmp_path / "jwks.json"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "SOUL_SIGNING_KEY" in done.stderr, done.stderr
