"""Pure parts of the Wan generator: poll cadence, backoff, error mapping, download rules, account limits.

The remote protocol itself is tested against the fake DashScope server in
tests/integration/test_wan_fake_server.py.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import httpx
import pytest

from gpu_jobs.generators.wan import sdk_intervals
from gpu_jobs.wan_client import RetryPolicy, WanAccountError, parse_retry_after, provider_error
from gpu_jobs.wan_download import DownloadRefused, SafeDownloader
from gpu_jobs.wan_limits import WanAccountLimits
from shared.adapters.sqlite_db import SqliteDb
from shared.adapters.sqlite_store import SqliteDocumentStore
from shared.errors import ContentBlocked, GenerationFailed, InvalidInput, RateLimited, Unavailable

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self, now: float = 1_000.25) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_poll_cadence_is_the_official_sdks() -> None:
    assert list(islice(sdk_intervals(), 10)) == [1, 1, 2, 2, 2, 4, 4, 4, 5, 5]


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=8.0, rng=lambda: 1.0)
    assert [policy.delay(n, None) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert RetryPolicy(base_s=1.0, cap_s=8.0, rng=lambda: 0.0).delay(4, None) == 4.0  # jitter: half to full
    assert policy.delay(1, 30.0) == 30.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: no wait
    assert parse_retry_after("soon") is None


def _answer(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return httpx.Response(status, json={"code": code, "message": "m", "request_id": "r"}, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "error", "words"),
    [
        (429, "Throttling.RateQuota", RateLimited, "rate limited"),
        (503, "ServiceUnavailable", Unavailable, "unavailable"),
        (400, "InvalidParameter", InvalidInput, "InvalidParameter"),
        (400, "DataInspectionFailed", ContentBlocked, "DataInspectionFailed"),
        (401, "InvalidApiKey", WanAccountError, "DASHSCOPE_API_KEY"),
        (400, "Arrearage", WanAccountError, "arrears"),
        (403, "AccessDenied", GenerationFailed, "AccessDenied"),
    ],
)
def test_provider_errors_map_onto_the_error_tree(status: int, code: str, error: type, words: str) -> None:
    exc = provider_error(_answer(status, code, "2"))
    assert type(exc) is error
    assert words in exc.message
    assert exc.retryable == (status in (429, 503))


def _downloader(allowed: str, *addresses: str) -> SafeDownloader:
    return SafeDownloader(allowed, resolver=lambda host, port: list(addresses))


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.9", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
     "fd00::1", "fe80::1%eth0", "::ffff:127.0.0.1", "224.0.0.1"],
)  # fmt: skip
def test_download_refuses_non_public_addresses(address: str) -> None:
    downloader = _downloader("aliyuncs.com", "47.88.1.1", address)  # one bad address is enough
    with pytest.raises(DownloadRefused, match="non-public address"):
        downloader.check_url(httpx.URL("https://bucket.oss-cn-beijing.aliyuncs.com/v.mp4?Expires=1"))


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [
        ("https://evil.example.com/v.mp4", "aliyuncs.com", "not in WAN_ALLOWED_HOSTS"),
        ("https://aliyuncs.com.evil.com/v.mp4", "aliyuncs.com", "not in WAN_ALLOWED_HOSTS"),
        ("https://127.0.0.1/v.mp4", "0.0.1", "not in WAN_ALLOWED_HOSTS"),
        ("http://bucket.aliyuncs.com/v.mp4", "aliyuncs.com", "https only"),
        ("ftp://bucket.aliyuncs.com/v.mp4", "aliyuncs.com", "https only"),
        ("http://localhost/v.mp4", "aliyuncs.com,127.0.0.1", "not in WAN_ALLOWED_HOSTS"),
    ],
)
def test_download_refuses_urls_outside_the_rules(url: str, allowed: str, reason: str) -> None:
    with pytest.raises(DownloadRefused, match=reason):
        _downloader(allowed, "47.88.1.1").check_url(httpx.URL(url))


def test_download_allows_public_provider_hosts_and_listed_loopback() -> None:
    _downloader("aliyuncs.com", "47.88.1.1").check_url(httpx.URL("https://b.oss-cn-beijing.aliyuncs.com/v.mp4"))
    _downloader("aliyuncs.com,127.0.0.1", "127.0.0.1").check_url(httpx.URL("http://127.0.0.1:9/v.mp4"))


def _limits(tmp_path: Path, clock: FakeClock, **kw: int) -> WanAccountLimits:
    store = SqliteDocumentStore(SqliteDb(tmp_path / "db.sqlite3"))
    return WanAccountLimits(store, clock, slot_ttl_s=60.0, **kw)


def test_slots_bound_concurrency_expire_and_resume(tmp_path: Path) -> None:
    clock = FakeClock()
    limits = _limits(tmp_path, clock, max_concurrent=2)
    first, second = limits.try_claim("a"), limits.try_claim("b")
    assert first and second and first.slot_id != second.slot_id
    assert limits.try_claim("c") is None
    limits.bind(first, "task-1")
    assert limits.try_claim("restarted", task_id="task-1") is not None  # a resumed task takes its own slot
    limits.release(second)
    assert limits.try_claim("c") is not None
    clock.sleep(61)  # the holders crashed: their slots expire
    assert limits.try_claim("d") is not None


def test_release_by_a_former_holder_leaves_the_new_one_alone(tmp_path: Path) -> None:
    clock = FakeClock()
    limits = _limits(tmp_path, clock, max_concurrent=1)
    old = limits.try_claim("old")
    assert old is not None
    clock.sleep(61)
    assert limits.try_claim("new") is not None
    limits.release(old)
    assert limits.try_claim("third") is None


def test_submit_permits_per_second(tmp_path: Path) -> None:
    clock = FakeClock()
    limits = _limits(tmp_path, clock, submits_per_second=2)
    assert [limits.try_submit_permit() for _ in range(3)] == [True, True, False]
    assert limits.seconds_to_next_window() == pytest.approx(0.75)
    clock.sleep(limits.seconds_to_next_window())
    assert limits.try_submit_permit()
