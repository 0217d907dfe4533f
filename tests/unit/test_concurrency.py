"""shared.concurrency.overlapped: two reads at once on a network store, never queued behind other
requests' reads (when every pool thread is busy the caller runs both itself), one after the other in
the caller's thread on an in-process store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest

from shared.concurrency import POOL_THREADS, overlapped
from shared.ports import DocumentStore

pytestmark = pytest.mark.unit


class _Store:
    def __init__(self, concurrent_reads: bool) -> None:
        self.concurrent_reads = concurrent_reads


def store(concurrent_reads: bool) -> DocumentStore:
    """overlapped reads only `concurrent_reads` of the store; the reads themselves are the callables."""
    return cast(DocumentStore, _Store(concurrent_reads))


def _thread() -> str:
    return threading.current_thread().name


def test_a_network_store_runs_the_two_reads_at_once() -> None:
    both = threading.Barrier(2, timeout=5)  # breaks (an error) unless the two run at the same time

    def read(name: str) -> str:
        both.wait()
        return name

    assert overlapped(store(True), lambda: read("a"), lambda: read("b")) == ("a", "b")


def test_an_in_process_store_runs_them_in_the_callers_thread() -> None:
    assert overlapped(store(False), _thread, _thread) == (_thread(), _thread())


def test_with_every_pool_thread_busy_the_caller_reads_without_waiting() -> None:
    release, started = threading.Event(), threading.Semaphore(0)

    def hold() -> None:
        started.release()
        assert release.wait(10)

    callers = ThreadPoolExecutor(max_workers=POOL_THREADS)
    try:
        # POOL_THREADS requests whose second read blocks: every pool thread is taken.
        network = store(True)
        held: list[Any] = [callers.submit(lambda: overlapped(network, lambda: None, hold)) for _ in range(POOL_THREADS)]
        for _ in range(POOL_THREADS):
            assert started.acquire(timeout=5)
        # Queued behind them, this call would wait for `release`; it must finish in the caller's thread.
        assert overlapped(store(True), _thread, _thread) == (_thread(), _thread())
    finally:
        release.set()
        callers.shutdown(wait=True)
    assert all(f.result(timeout=5) == (None, None) for f in held)
    assert overlapped(store(True), _thread, _thread)[1] != _thread()  # the pool is free again
