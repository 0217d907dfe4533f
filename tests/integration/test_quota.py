"""Per-user quotas: the same semantics on fakeredis, a real `redis-server` and the record store; 100
concurrent generation requests against a quota of 10 → exactly 10 accepted, nothing else enqueued."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fakeredis
import pytest
import redis
from pydantic import SecretStr

from functions.app import create_app
from functions.context import Context
from functions.quota import DAY, Limits, Quota, RedisQuota, StoreQuota
from shared.bootstrap import Backend
from shared.errors import RateLimited, Unavailable
from shared.records import JOBS
from tests.conftest import free_port

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0 + 30  # 30 s into a minute, mid-day (UTC)


class FrozenClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class RedisServer:
    """A real redis-server on a free loopback port: exec'd (the PID is the server), its own process group."""

    def __init__(self, log: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (infra/setup-test-machine.sh installs it)")
        self.port = free_port()
        args = f"exec {binary} --bind 127.0.0.1 --port {self.port} --save '' --appendonly no"
        self.proc = subprocess.Popen(
            ["sh", "-c", args], stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis") / "redis.log")
    yield server
    server.stop()


QuotaFactory = Callable[[Limits, FrozenClock], Quota]


@pytest.fixture(params=["fakeredis", "redis-server", "store"])
def make_quota(request: pytest.FixtureRequest, backend: Backend) -> QuotaFactory:
    if request.param == "store":
        return lambda limits, clock: StoreQuota(backend.store, limits, clock)
    if request.param == "fakeredis":
        client = fakeredis.FakeRedis()
    else:
        client = redis.Redis.from_url(request.getfixturevalue("redis_server").url)
        client.flushdb()
    return lambda limits, clock: RedisQuota(client, limits, clock)


def refused(quota: Quota, user: str) -> RateLimited:
    with pytest.raises(RateLimited) as err:
        quota.take(user)
    return err.value


def test_rate_limit_per_minute_with_retry_after(make_quota: QuotaFactory) -> None:
    clock = FrozenClock()
    quota = make_quota(Limits(per_minute=3, per_day=100), clock)
    for _ in range(3):
        quota.take("alice")
    err = refused(quota, "alice")
    assert err.code == "rate_limited" and err.retry_after == pytest.approx(30)
    quota.take("bob")  # per user
    clock.t += 30  # next minute
    quota.take("alice")


def test_daily_cap_with_retry_after_until_midnight(make_quota: QuotaFactory) -> None:
    clock = FrozenClock()
    quota = make_quota(Limits(per_minute=100, per_day=2), clock)
    quota.take("alice")
    clock.t += 120
    quota.take("alice")
    clock.t += 120
    err = refused(quota, "alice")
    assert err.code == "daily_cap_reached"
    assert err.retry_after == pytest.approx((clock.t // DAY + 1) * DAY - clock.t)
    clock.t = (clock.t // DAY + 1) * DAY  # midnight UTC
    quota.take("alice")


def test_refused_requests_do_not_count(make_quota: QuotaFactory) -> None:
    clock = FrozenClock()
    quota = make_quota(Limits(per_minute=1, per_day=2), clock)
    quota.take("alice")
    for _ in range(5):
        refused(quota, "alice")
    clock.t += 60
    quota.take("alice")  # the 5 refusals did not eat the daily cap


def test_an_unreachable_redis_fails_closed() -> None:
    client = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    with pytest.raises(Unavailable):
        RedisQuota(client, Limits(10, 10), FrozenClock()).take("alice")


@pytest.mark.parametrize("kind", ["store", "redis-server", "fakeredis"])
def test_100_concurrent_requests_against_a_quota_of_10(
    kind: str, backend: Backend, request: pytest.FixtureRequest
) -> None:
    limits, clock = Limits(per_minute=10, per_day=1000), FrozenClock()
    quota: Quota
    if kind == "store":
        quota = StoreQuota(backend.store, limits, clock)
    elif kind == "fakeredis":
        quota = RedisQuota(fakeredis.FakeRedis(), limits, clock)
    else:
        client = redis.Redis.from_url(request.getfixturevalue("redis_server").url)
        client.flushdb()
        quota = RedisQuota(client, limits, clock)
    app = create_app(Context.build(backend, quota=quota))

    def one(i: int) -> tuple[int, str | None]:
        r = app.test_client().get("/image", query_string={"soul_id": "nova", "cue": f"cat number {i}", "user_id": "u"})
        return r.status_code, r.headers.get("Retry-After")

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(100)))
    accepted = [s for s, _ in results if s in (200, 202)]
    limited = [ra for s, ra in results if s == 429]
    assert len(accepted) == 10 and len(limited) == 90, sorted({s for s, _ in results})
    assert all(ra == "30" for ra in limited)
    assert backend.store.count(JOBS) == 10  # refused requests enqueued nothing


def test_settings_pick_redis_when_redis_url_is_set(redis_server: RedisServer, tmp_path: Path) -> None:
    from infra import seed
    from shared.bootstrap import build_backend
    from tests.conftest import make_settings

    redis.Redis.from_url(redis_server.url).flushdb()
    settings = make_settings(tmp_path / "d", redis_url=SecretStr(redis_server.url), soul_daily_generation_cap=2)
    backend = build_backend(settings)
    seed.load(backend)
    ctx = Context.build(backend)
    assert isinstance(ctx.quota, RedisQuota)
    client = create_app(ctx).test_client()
    codes = [
        client.get("/image", query_string={"soul_id": "nova", "cue": f"dog {i}", "user_id": "u"}).status_code
        for i in range(3)
    ]
    assert codes == [202, 202, 429]
    assert list(redis.Redis.from_url(redis_server.url).scan_iter("soul:quota:{u}:*"))
    default = Context.build(dataclasses.replace(backend, settings=make_settings(tmp_path / "e")))
    assert isinstance(default.quota, StoreQuota)
