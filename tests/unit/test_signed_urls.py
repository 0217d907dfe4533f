"""Signed URLs are reused only while at least half their lifetime remains."""

from __future__ import annotations

import pytest

from functions.urls import SignedUrls

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class Blobs:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.signed = 0

    def signed_url(self, name: str, ttl_seconds: int) -> str:
        self.signed += 1
        return f"/a/{name}?expires={int(self.clock.now()) + ttl_seconds}"


def test_reused_for_half_the_ttl_then_signed_again() -> None:
    clock = Clock()
    blobs = Blobs(clock)
    urls = SignedUrls(blobs, clock, ttl_seconds=100)  # type: ignore[arg-type]
    first = urls.url("x.png")
    clock.sleep(49)
    assert urls.url("x.png") == first and blobs.signed == 1
    clock.sleep(2)
    second = urls.url("x.png")
    assert second != first and blobs.signed == 2
    assert int(second.split("=")[1]) - clock.now() >= 50
