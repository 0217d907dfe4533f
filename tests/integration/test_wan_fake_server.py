"""The Wan generator against the fake DashScope server: real HTTP on loopback, exact remote call counts.

Nothing of ours is mocked: the generator, its httpx client, downloader and account limits (on SQLite)
run as in production; only the provider is the scripted fake, and the clock shortens sleeps.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gpu_jobs.generators.base import GenRequest, Output
from gpu_jobs.generators.wan import NOT_CONFIGURED, WanGenerator
from gpu_jobs.media import decode_video
from gpu_jobs.wan_client import RetryPolicy, WanAccountError
from gpu_jobs.wan_download import DownloadRefused
from shared.adapters.sqlite_db import SqliteDb
from shared.adapters.sqlite_store import SqliteDocumentStore
from shared.domain.models import GenerationSpec, Kind
from shared.errors import (
    ContentBlocked,
    GenerationFailed,
    InvalidInput,
    JobCanceled,
    NotConfigured,
    RateLimited,
    SoulError,
    Unavailable,
)
from tests.fakes.fake_dashscope import FakeDashScope, HttpFailure, TaskScript

pytestmark = pytest.mark.integration

KEY = "sk-test-7f3c9a1be2d44c0e"
SPEC = GenerationSpec(kind=Kind.WAN, soul_id="fox", prompt="a red fox dancing", negative_prompt="blurry", seed=42)


class Crash(BaseException):
    """Stands in for the worker process dying mid-job."""


class ShortClock:
    """Real time, but sleeps are cut short and recorded (so tests can check what was asked)."""

    def __init__(self, longest: float = 0.005) -> None:
        self.sleeps: list[float] = []
        self.longest = longest

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(min(seconds, self.longest))


@dataclass
class Hooks:
    remote_task_id: str | None = None
    cancel_on_check: int | None = None  # canceled() turns True from this call on (1-based)
    crash_on_progress: bool = False  # die right after the task id was saved (first progress report)
    fail_save: bool = False
    fake: FakeDashScope | None = None
    steps: list[tuple[int, int]] = field(default_factory=list)
    saved: list[tuple[str, int]] = field(default_factory=list)  # (task id, polls seen by then)
    checks: int = 0

    def progress(self, step: int, total: int) -> None:
        self.steps.append((step, total))
        if self.crash_on_progress:
            raise Crash

    def canceled(self) -> bool:
        self.checks += 1
        return self.cancel_on_check is not None and self.checks >= self.cancel_on_check

    def save_remote_task_id(self, task_id: str) -> None:
        self.saved.append((task_id, self.fake.calls["poll"] if self.fake else -1))
        if self.fail_save:
            raise Unavailable("the job store is down")
        self.remote_task_id = task_id


@pytest.fixture
def fake() -> Iterator[FakeDashScope]:
    with FakeDashScope(api_key=KEY) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> SqliteDocumentStore:
    return SqliteDocumentStore(SqliteDb(tmp_path / "db.sqlite3"))


def make(fake: FakeDashScope, store: SqliteDocumentStore, **overrides: Any) -> WanGenerator:
    options: dict[str, Any] = {
        "store": store, "api_key": SecretStr(KEY), "base_url": fake.base_url, "allowed_hosts": "127.0.0.1",
        "clock": ShortClock(), "poll_first_s": 0.01, "poll_cap_s": 0.05,
        "retry": RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05), "slot_wait_s": 0.01,
    }  # fmt: skip
    return WanGenerator(**{**options, **overrides})


def run(generator: WanGenerator, hooks: Hooks) -> Output:
    return generator.generate([GenRequest(SPEC, hooks)])[0]


def remote_calls(fake: FakeDashScope) -> dict[str, int]:
    return {kind: n for kind, n in fake.calls.items() if n}


def test_success_copies_a_real_mp4_with_exact_calls(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    hooks = Hooks(fake=fake)
    output = run(make(fake, store), hooks)
    frames, fps = decode_video(output.video or b"")
    assert (len(frames), fps, output.fps, output.generator, output.frames) == (12, 24.0, 24, "wan", [])
    assert remote_calls(fake) == {"submit": 1, "poll": 3, "download": 1}
    submit = fake.requests[0]
    assert submit.body == {
        "model": "wan2.5-t2v-preview",
        "input": {"prompt": "a red fox dancing", "negative_prompt": "blurry"},
        "parameters": {"size": "832*480", "duration": 5, "prompt_extend": True, "watermark": False, "seed": 42},
    }
    assert submit.headers["X-DashScope-Async"] == "enable"
    assert submit.headers["Content-Type"] == "application/json"
    assert hooks.saved == [(next(iter(fake.tasks)), 0)]  # saved before the first poll
    assert hooks.steps[0] == (1, 4) and hooks.steps[-1] == (4, 4)


def test_a_restarted_worker_resumes_and_never_submits_again(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    first = Hooks(fake=fake, crash_on_progress=True)
    with pytest.raises(Crash):
        run(make(fake, store), first)
    assert first.remote_task_id in fake.tasks
    resumed = Hooks(remote_task_id=first.remote_task_id, fake=fake)
    output = run(make(fake, store), resumed)  # a new instance, as after a process restart
    assert output.video and output.video[4:8] == b"ftyp"
    assert remote_calls(fake) == {"submit": 1, "poll": 3, "download": 1}
    assert resumed.saved == []


def test_a_task_id_that_cannot_be_saved_is_canceled(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    with pytest.raises(Unavailable, match="store is down"):
        run(make(fake, store), Hooks(fail_save=True))
    assert remote_calls(fake) == {"submit": 1, "cancel": 1}  # a retry will submit again: no orphan runs
    assert next(iter(fake.tasks.values())).status == "CANCELED"


def test_an_expired_task_is_submitted_afresh_once(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    hooks = Hooks(remote_task_id="fake-expired0000", fake=fake)
    run(make(fake, store), hooks)
    assert remote_calls(fake) == {"poll": 3 + 3, "submit": 1, "download": 1}  # 3 UNKNOWN, then the new task
    assert hooks.remote_task_id in fake.tasks


def test_429_waits_retry_after_then_succeeds(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    fake.fail("submit", HttpFailure(429, "Throttling.RateQuota", "Requests rate limit exceeded", retry_after="2"))
    clock = ShortClock()
    run(make(fake, store, clock=clock), Hooks())
    assert remote_calls(fake) == {"submit": 2, "poll": 3, "download": 1}
    assert 2.0 in clock.sleeps


def test_a_long_retry_after_goes_back_to_the_worker(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    fake.fail("submit", HttpFailure(429, "Throttling.RateQuota", retry_after="600"))
    with pytest.raises(RateLimited) as caught:
        run(make(fake, store), Hooks())
    assert caught.value.retry_after == 600.0
    assert remote_calls(fake) == {"submit": 1}


def test_5xx_retries_are_capped_and_retryable(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    fake.fail("poll", *[HttpFailure(500, "InternalError", "boom")] * 10)
    hooks = Hooks()
    with pytest.raises(Unavailable, match="InternalError") as caught:
        run(make(fake, store), hooks)
    assert caught.value.retryable
    assert remote_calls(fake) == {"submit": 1, "poll": 4}
    assert hooks.remote_task_id in fake.tasks  # the requeued job will resume this task


@pytest.mark.parametrize(
    ("failure", "error", "words"),
    [
        (HttpFailure(400, "InvalidParameter", "size is invalid"), InvalidInput, "size is invalid"),
        (HttpFailure(400, "DataInspectionFailed", "Input data may contain inappropriate content."), ContentBlocked,
         "inappropriate"),
        (HttpFailure(400, "Arrearage", "Access denied, please make sure your account is in good standing."),
         WanAccountError, "arrears"),
    ],
)  # fmt: skip
def test_permanent_submit_errors_are_not_retried(
    fake: FakeDashScope, store: SqliteDocumentStore, failure: HttpFailure, error: type[SoulError], words: str
) -> None:
    fake.fail("submit", failure)
    with pytest.raises(error, match=words) as caught:
        run(make(fake, store), Hooks())
    assert not caught.value.retryable
    assert remote_calls(fake) == {"submit": 1}


def test_a_bad_key_is_permanent_and_never_shown(
    fake: FakeDashScope, store: SqliteDocumentStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-5d1e9b7c0a"
    fake.fail("poll", HttpFailure(503, "ServiceUnavailable"))  # some retries get logged too
    run(make(fake, store), Hooks())
    with pytest.raises(WanAccountError, match="DASHSCOPE_API_KEY") as caught:
        run(make(fake, store, api_key=SecretStr(wrong)), Hooks())
    assert remote_calls(fake) == {"submit": 2, "poll": 4, "download": 1}
    texts = [caplog.text, str(caught.value), repr(caught.value)]
    assert caplog.records and not any(KEY in t or wrong in t for t in texts)


@pytest.mark.parametrize(
    ("code", "error"),
    [("InternalError.Algo", GenerationFailed), ("DataInspectionFailed", ContentBlocked)],
)
def test_a_failed_task_reports_the_providers_code(
    fake: FakeDashScope, store: SqliteDocumentStore, code: str, error: type
) -> None:
    fake.script(TaskScript(["PENDING", "RUNNING", "FAILED"], code, "the model gave up"))
    with pytest.raises(error, match=f"{code}: the model gave up"):
        run(make(fake, store), Hooks())
    assert remote_calls(fake) == {"submit": 1, "poll": 3}


def test_cancel_while_pending_cancels_the_remote_task(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    fake.script(TaskScript(["PENDING"] * 50))
    with pytest.raises(JobCanceled):
        run(make(fake, store), Hooks(cancel_on_check=3))  # before start, after poll 1, after poll 2
    assert remote_calls(fake) == {"submit": 1, "poll": 2, "cancel": 1}
    assert next(iter(fake.tasks.values())).status == "CANCELED"


def test_cancel_while_running_gives_up_without_a_cancel_call(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    fake.script(TaskScript(["RUNNING"] * 50))
    with pytest.raises(JobCanceled):
        run(make(fake, store), Hooks(cancel_on_check=2))
    assert remote_calls(fake) == {"submit": 1, "poll": 1}


def test_cancel_before_start_makes_no_remote_call(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    with pytest.raises(JobCanceled):
        run(make(fake, store), Hooks(cancel_on_check=1))
    assert remote_calls(fake) == {}


def test_a_partly_canceled_batch_finishes_the_rest(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    requests = [GenRequest(SPEC, Hooks(cancel_on_check=1)), GenRequest(SPEC, Hooks())]
    dropped, made = make(fake, store).generate(requests)
    assert dropped.video is None and made.video == fake.files["/files/video.mp4"]
    assert remote_calls(fake) == {"submit": 1, "poll": 3, "download": 1}


def test_no_key_is_not_configured_never_a_fake_success(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    generator = make(fake, store, api_key=None)
    generator.setup()  # a worker serving other lanes still starts
    with pytest.raises(NotConfigured) as caught:
        run(generator, Hooks())
    assert caught.value.message == NOT_CONFIGURED
    assert remote_calls(fake) == {}


def test_the_key_never_travels_in_clear_text_off_the_machine(store: SqliteDocumentStore) -> None:
    generator = WanGenerator(store=store, api_key=SecretStr(KEY), base_url="http://dashscope.aliyuncs.com/api/v1")
    with pytest.raises(NotConfigured, match="https"):
        run(generator, Hooks())


def test_download_from_a_host_not_allowed_is_refused(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    with pytest.raises(DownloadRefused, match="not in WAN_ALLOWED_HOSTS"):
        run(make(fake, store, allowed_hosts="aliyuncs.com"), Hooks())
    assert remote_calls(fake) == {"submit": 1, "poll": 3}


@pytest.mark.parametrize(("target", "followed"), [("localhost", False), ("127.0.0.1", True)])
def test_redirects_are_followed_only_within_the_host(
    fake: FakeDashScope, store: SqliteDocumentStore, target: str, followed: bool
) -> None:
    port = fake.origin.rsplit(":", 1)[1]
    fake.redirects["/files/moved.mp4"] = f"http://{target}:{port}/files/video.mp4"
    fake.script(TaskScript(video_url=fake.url("/files/moved.mp4")))
    generator = make(fake, store, allowed_hosts="127.0.0.1,localhost")
    if followed:
        assert run(generator, Hooks()).video == fake.files["/files/video.mp4"]
    else:
        with pytest.raises(DownloadRefused, match="redirect"):
            run(generator, Hooks())
    assert fake.calls["download"] == (2 if followed else 1)


def test_download_over_the_byte_cap_is_refused(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    with pytest.raises(DownloadRefused, match="cap"):
        run(make(fake, store, max_video_bytes=1000), Hooks())


def test_two_workers_share_the_accounts_concurrency_limit(fake: FakeDashScope, store: SqliteDocumentStore) -> None:
    fake.default_script = TaskScript(["PENDING", *["RUNNING"] * 6, "SUCCEEDED"])
    outputs: list[Output] = []
    errors: list[SoulError] = []

    def worker() -> None:
        generator = make(fake, store, max_concurrent=1, clock=ShortClock(longest=0.02))
        try:
            outputs.append(run(generator, Hooks()))
        except SoulError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == [] and len(outputs) == 2
    assert fake.max_active == 1
    assert remote_calls(fake) == {"submit": 2, "poll": 16, "download": 2}


def test_https_end_to_end_with_a_trusted_certificate(tmp_path: Path, store: SqliteDocumentStore) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    trust = ssl.create_default_context(cafile=str(cert))
    with FakeDashScope(api_key=KEY, tls=server_tls) as server:
        assert server.base_url.startswith("https://")
        generator = make(server, store, download_verify=trust, transport=httpx.HTTPTransport(verify=trust))
        output = run(generator, Hooks())
        assert remote_calls(server) == {"submit": 1, "poll": 3, "download": 1}
    assert output.video == server.files["/files/video.mp4"]
