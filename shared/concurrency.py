"""Independent store reads issued together: on a network store (Firestore) two reads cost one round
trip of latency instead of two. In-process stores (SQLite) run them one after the other, where a
thread hand-off would cost more than the read.

A request never queues behind other requests' reads: the pool has a thread for each request thread
the API serves (THREADS=16 in terraform/envs/dev), and when every pool thread is busy anyway (a
process driving more concurrent requests, such as `soul bench viral`) the two reads run one after
the other in the caller's thread: at most one round trip more, instead of a wait for a pool thread
that grows with the number of requests queued ahead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shared.ports import DocumentStore

A = TypeVar("A")
B = TypeVar("B")

POOL_THREADS = 16  # the API's request threads per instance; threads start only when first needed
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_idle = threading.BoundedSemaphore(POOL_THREADS)  # pool threads not running a read now


def overlapped(store: DocumentStore, first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """`(first(), second())`, the two running at once when `store.concurrent_reads` and a pool thread
    is idle (one pool per process); otherwise one after the other in the caller's thread."""
    global _pool  # noqa: PLW0603 - created on first use, shared by the process's request threads
    if not store.concurrent_reads or not _idle.acquire(blocking=False):
        return first(), second()
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="soul-read")

    def run_second() -> B:
        try:
            return second()
        finally:
            _idle.release()

    try:
        later = _pool.submit(run_second)
    except BaseException:
        _idle.release()
        raise
    return first(), later.result()
