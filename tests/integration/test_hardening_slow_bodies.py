"""Issue 29 item 4 and the chunked-body 413, against the api as Terraform runs it: functions-framework
(gunicorn `gthread`) with THREADS=16, token mode, in a subprocess. Sixteen connections that send their
headers and then trickle the body must not stall the api: the caller, Content-Length and Content-Type
are checked before a byte of the body is read, a refusal closes the connection (`Connection: close`),
and an authenticated caller's body has SOUL_BODY_TIMEOUT_SECONDS to arrive (408 past it).

Nothing here sleeps to decide an outcome: each slow connection's answer is read as it comes (a socket
timeout only bounds a hang, which is the failure), and `/healthz` is asked while all sixteen are open.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_http
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
THREADS = 16
BODY_TIMEOUT = 2.0  # seconds an authenticated body may take (SOUL_BODY_TIMEOUT_SECONDS)
# A read longer than this is the stall the issue describes: a failure. (Unfixed, /healthz took > 60 s
# with the body read first, and 32 s with gunicorn lingering 2 s per closed connection on its main thread.)
HANG = 15.0


class FunctionsApi:
    """`functions-framework --target=api` from functions/main.py on a free port, its own process group."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "functions-framework.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "THREADS": str(THREADS),
            "SOUL_DATA_DIR": str(root / "data"),
            "SOUL_AUTH_MODE": "token",
            "SOUL_JWKS_FILE": str(ISSUER.write_jwks(root / "jwks.json")),
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "SOUL_SIGNING_KEY": "slow-body-test-signing-key",
            "SOUL_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "LOG_LEVEL": "WARNING",
        }
        binary = Path(sys.executable).parent / "functions-framework"
        argv = [str(binary), f"--source={ROOT / 'functions' / 'main.py'}", "--target=api", "--signature-type=http"]
        argv += ["--host=127.0.0.1", f"--port={self.port}"]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_http(f"{self.url}/healthz", timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionsApi]:
    server = FunctionsApi(tmp_path_factory.mktemp("slow-bodies"))
    yield server
    server.stop()


def _slow_body(api: FunctionsApi, *extra: str, content_type: str = "application/json") -> socket.socket:
    """Headers announcing a 60,000-byte body, then one byte of it: the rest never comes."""
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=HANG)
    lines = [
        "POST /image/selfie HTTP/1.1",
        f"Host: 127.0.0.1:{api.port}",
        f"Content-Type: {content_type}",
        "Content-Length: 60000",
        *extra,
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{")
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the response on `sock` (blocks until they arrive; HANG bounds it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection without answering"
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    return int(head[0].split()[1]), headers


def _closed_by_server(sock: socket.socket) -> bool:
    """After its answer the server closes: reads reach end-of-stream (the rest of the answer, then b"")."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def test_sixteen_slow_unauthenticated_bodies_are_answered_401_and_health_answers(api: FunctionsApi) -> None:
    held = [_slow_body(api) for _ in range(THREADS)]
    try:
        assert httpx.get(f"{api.url}/healthz", timeout=HANG).status_code == 200  # all sixteen still open
        for sock in held:  # each is answered without its body: before the fix, this read hung
            status, headers = _answer(sock)
            assert status == 401 and headers.get("connection") == "close"
        assert all(_closed_by_server(sock) for sock in held)  # the threads are free: the server hung up
    finally:
        for sock in held:
            sock.close()


def test_sixteen_slow_authenticated_bodies_get_408_and_health_answers(api: FunctionsApi) -> None:
    token = f"Authorization: Bearer {ISSUER.token('alice')}"
    held = [_slow_body(api, token) for _ in range(THREADS)]
    try:
        # Every thread may be reading a body now; each gets BODY_TIMEOUT seconds, then health has one.
        assert httpx.get(f"{api.url}/healthz", timeout=HANG).status_code == 200
        for sock in held:
            status, headers = _answer(sock)
            assert status == 408 and headers.get("connection") == "close"
    finally:
        for sock in held:
            sock.close()


def test_wrong_type_and_announced_size_are_refused_before_the_body(api: FunctionsApi) -> None:
    token = f"Authorization: Bearer {ISSUER.token('alice')}"
    for sock, expected in (
        (_slow_body(api, token, content_type="text/plain"), 415),
        (_slow_body(api, token, content_type="application/x-www-form-urlencoded"), 415),
    ):
        with sock:
            status, headers = _answer(sock)
            assert status == expected and headers.get("connection") == "close"
    with socket.create_connection(("127.0.0.1", api.port), timeout=HANG) as sock:
        head = f"POST /image/selfie HTTP/1.1\r\nHost: x\r\n{token}\r\nContent-Type: application/json\r\n"
        sock.sendall((head + "Content-Length: 10000000\r\n\r\n").encode())
        status, headers = _answer(sock)
        assert status == 413 and headers.get("connection") == "close"


def test_a_chunked_body_over_the_limit_is_413_not_invalid_json(api: FunctionsApi) -> None:
    headers = {**ISSUER.bearer("alice"), "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        yield b'{"soul_id": "nova", "city_key": "paris", "mood": "'
        for _ in range(20):
            yield b"x" * 4096  # 80 kB in all: past SOUL_MAX_BODY_BYTES (64 KiB), with no Content-Length
        yield b'"}'

    r = httpx.post(f"{api.url}/image/selfie", content=chunks(), headers=headers, timeout=HANG)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large", r.text
