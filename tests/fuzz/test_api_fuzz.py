"""Schemathesis against `/openapi.json`, the Flask app in-process (WSGI): every operation, positive and
negative data. Checks: no 5xx, status codes / content types / bodies conform to the schema, and no
body carries a traceback, a file path or the canary DASHSCOPE_API_KEY.

Hostile payloads ride along (issue 16): about HOSTILE_SHARE of the cases are sent with one hostile
replacement picked deterministically from the case: a body nested past any limit (`[` x 1500, valid
JSON nested 33-900 deep, a 100 kB bracket run), a JSON string with a lone surrogate (`\ud800`),
encoded-surrogate or undecodable bytes in the body, or a query string with percent-encoded invalid
UTF-8 (`%ED%A0%80`, `%FF`). Each must get a documented 4xx, never a 5xx.

Default run: SOUL_FUZZ_EXAMPLES=20 per operation (≈ 1,300 requests, under 2 minutes on 2 cores). `make fuzz` runs
`infra/security.sh fuzz` with SOUL_FUZZ_EXAMPLES=1000 (≥ 10,000 requests); the request count and failures are
written to test-artifacts/fuzz-summary.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from functions.app import create_app
from functions.context import Context
from infra import seed
from shared.bootstrap import build_backend
from tests.conftest import ARTIFACTS, make_settings

pytestmark = pytest.mark.integration

CANARY = "sk-fuzz-canary-0b8e4d2c91f7a6"
EXAMPLES = int(os.environ.get("SOUL_FUZZ_EXAMPLES", "20"))
LEAK = re.compile(r"Traceback|File \"|\.py\b|site-packages|/usr/|/home/|/tmp/|/work/|\.sqlite3|" + CANARY[3:])
SENT: Counter[str] = Counter()
HOSTILE: Counter[str] = Counter()
HOSTILE_SHARE = 0.35
_lock = threading.Lock()


class VirtualClock:
    """Real time plus whatever was slept: `wait=60` answers at once (no worker runs here)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)


def _app() -> Any:
    """Built when the module is collected: schemathesis needs the schema to generate the test cases."""
    data = Path(tempfile.mkdtemp(prefix="soul-fuzz-")) / "data"
    settings_ = make_settings(
        data, dashscope_api_key=SecretStr(CANARY), soul_rate_limit_per_minute=100_000, soul_daily_generation_cap=10**6
    )
    backend = build_backend(settings_, clock=VirtualClock())
    seed.load(backend)
    return create_app(Context.build(backend))


@schemathesis.check
def no_leaks(ctx: Any, response: Any, case: Any) -> bool | None:
    """No traceback, file path or secret in any body."""
    with _lock:
        SENT[case.operation.label] += 1
    match = LEAK.search(response.text or "")
    if match:
        raise AssertionError(f"response body leaks {match.group(0)!r}")
    return None


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())


def _nested_object(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def _with_field(body: Any, raw_value: bytes) -> bytes:
    """The case's own JSON object with a `mood` field whose value is `raw_value` (raw JSON bytes)."""
    fields = {k: v for k, v in body.items() if k != "mood"} if isinstance(body, dict) else {}
    head = json.dumps(fields).encode()[:-1]
    return head + (b", " if fields else b"") + b'"mood": ' + raw_value + b"}"


BODY_ATTACKS = {
    "brackets_1500": lambda body: b"[" * 1500,
    "brackets_100kB": lambda body: b"[" * 100_000,
    "nested_object_33": lambda body: _with_field(body, _nested_object(33)),
    "nested_object_900": lambda body: _nested_object(900),
    "nested_array_200": lambda body: _with_field(body, b"[" * 200 + b"]" * 200),
    "surrogate_escape": lambda body: _with_field(body, b'"\\ud800 sunny"'),
    "encoded_surrogate": lambda body: _with_field(body, b'"\xed\xa0\x80abc"'),
    "undecodable_bytes": lambda body: _with_field(body, b'"\xff\xfe"'),
}
QUERY_ATTACKS = {
    "query_encoded_surrogate": "cue=%ED%A0%80abc",
    "query_invalid_utf8": "user_id=%FF&cue=%C3",
}


def _hostile(case: Any) -> dict[str, Any]:
    """The hostile replacement for this case ({} for most): chosen from the case itself, so a
    derandomized run sends the same ones every time."""
    seed = hashlib.sha256(repr((case.operation.label, case.path_parameters, case.query, case.body)).encode())
    rng = random.Random(seed.digest())
    if rng.random() >= HOSTILE_SHARE:
        return {}
    has_body = case.operation.definition.raw.get("requestBody") is not None
    name = rng.choice(sorted(BODY_ATTACKS) + sorted(QUERY_ATTACKS) if has_body else sorted(QUERY_ATTACKS))
    with _lock:
        HOSTILE[name] += 1
    if name in QUERY_ATTACKS:
        return {"params": QUERY_ATTACKS[name]}
    return {"data": BODY_ATTACKS[name](case.body), "headers": {"Content-Type": "application/json"}}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case: Any) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            no_leaks,
        ],
        **_hostile(case),
    )


@pytest.fixture(scope="session", autouse=True)
def _summary() -> Iterator[None]:
    yield
    if SENT:
        ARTIFACTS.mkdir(exist_ok=True)
        out: dict[str, Any] = {
            "requests": sum(SENT.values()),
            "examples_per_operation": EXAMPLES,
            "hostile_requests": sum(HOSTILE.values()),
            "hostile_by_kind": HOSTILE,
            "by_operation": SENT,
        }
        Path(ARTIFACTS / "fuzz-summary.json").write_text(json.dumps(out, indent=2))
