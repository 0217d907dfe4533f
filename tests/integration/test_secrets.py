"""A canary DASHSCOPE_API_KEY, set for the run, never reaches a log line, a response, a stored record or
an exception's text, even when the provider echoes it back in its error messages.

The whole path runs: the API enqueues Wan jobs, the worker's real Wan generator calls the fake
DashScope server over loopback HTTP, the provider fails in the ways scripted below, the API reports.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared.bootstrap import build_backend
from shared.logging import JsonFormatter
from shared.records import JOBS
from tests.conftest import drain, make_settings
from tests.fakes.fake_dashscope import FakeDashScope, HttpFailure, TaskScript

pytestmark = pytest.mark.integration

CANARY = "sk-canary-5e1d0c9a7b3f4e21a8d6"


@pytest.fixture
def logs() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Every record, as shipped (JSON formatter) and raw (message + full traceback, as a stock handler would)."""
    shipped, raw = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(shipped), logging.StreamHandler(raw)]
    handlers[0].setFormatter(JsonFormatter())
    handlers[1].setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for h in handlers:
        root.addHandler(h)
    yield shipped, raw
    for h in handlers:
        root.removeHandler(h)
    root.setLevel(old_level)


def test_the_canary_key_never_leaks(tmp_path: Path, logs: tuple[io.StringIO, io.StringIO]) -> None:
    with FakeDashScope(api_key=CANARY) as fake:
        settings = make_settings(
            tmp_path / "data",
            log_level="DEBUG",
            dashscope_api_key=SecretStr(CANARY),
            wan_api_base_url=fake.base_url,
            wan_allowed_hosts="127.0.0.1",
        )
        backend = build_backend(settings)
        seed.load(backend)
        api = create_app(Context.build(backend)).test_client()
        worker = Worker(backend, Generators(settings, backend.store).for_kind)

        fake.fail("submit", HttpFailure(401, "InvalidApiKey", f"Invalid API-key provided: {CANARY}"))
        fake.fail("submit", HttpFailure(400, "InvalidParameter", f"header Authorization: Bearer {CANARY} rejected"))
        fake.script(TaskScript(["FAILED"], "InternalError.Algo", f"model crashed (key={CANARY})"))
        bodies = []
        for i in range(3):
            r = api.post("/wan-video/generate-direct", json={"positive_prompt": f"a fox number {i}", "user_id": "u1"})
            assert r.status_code == 202, r.data
            bodies.append(r.get_data(as_text=True))
        drain(worker, lanes=("wan",))

        tasks = [api.get(f"/tasks/{json.loads(b)['task_id']}", query_string={"user_id": "u1"}) for b in bodies]
        assert [t.json["status"] for t in tasks] == ["failed"] * 3  # type: ignore[index]
        assert all(t.json["error"]["message"] for t in tasks)  # type: ignore[index]
        assert fake.calls["submit"] == 3 and all(
            r.headers.get("Authorization") == f"Bearer {CANARY}" for r in fake.requests
        )  # the key was really used

        bodies += [t.get_data(as_text=True) for t in tasks]
        for path in ("/tasks", "/tasks/stats/summary", "/info", "/openapi.json", "/ready"):
            bodies.append(api.get(path).get_data(as_text=True))
        records = json.dumps(backend.store.query(JOBS), default=str)

    shipped, raw = logs
    assert shipped.getvalue() and raw.getvalue()  # something was logged
    for where, text in [
        ("response", "\n".join(bodies)),
        ("job records", records),
        ("shipped logs", shipped.getvalue()),
    ]:
        assert CANARY not in text, where
        assert CANARY[3:15] not in text, where  # nor a recognisable piece of it
    # Raw records (message, args, traceback) are clean too: a stock handler would not leak it either.
    assert CANARY not in raw.getvalue()
