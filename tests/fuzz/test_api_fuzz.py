"""Schemathesis against `/openapi.json`, the Flask app in-process (WSGI): every operation, positive and
negative data. Checks: no 5xx, status codes / content types / bodies conform to the schema, and no
body carries a traceback, a file path or the canary DASHSCOPE_API_KEY.

Default run: SOUL_FUZZ_EXAMPLES=20 per operation (≈ 1,300 requests, under 2 minutes on 2 cores). `make fuzz` runs
`infra/security.sh fuzz` with SOUL_FUZZ_EXAMPLES=1000 (≥ 10,000 requests); the request count and failures are
written to test-artifacts/fuzz-summary.json.
"""

from __future__ import annotations

import json
import os
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
        ]
    )


@pytest.fixture(scope="session", autouse=True)
def _summary() -> Iterator[None]:
    yield
    if SENT:
        ARTIFACTS.mkdir(exist_ok=True)
        out: dict[str, Any] = {"requests": sum(SENT.values()), "examples_per_operation": EXAMPLES, "by_operation": SENT}
        Path(ARTIFACTS / "fuzz-summary.json").write_text(json.dumps(out, indent=2))
