"""Independent store reads issued together: on a network store (Firestore) two reads cost one round
trip of latency instead of two. In-process stores (SQLite) run them one after the other, where a
thread hand-off would cost more than the read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shared.ports import DocumentStore

A = TypeVar("A")
B = TypeVar("B")

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def overlapped(store: DocumentStore, first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """`(first(), second())`, the two running at once when `store.concurrent_reads` (one pool per process)."""
    global _pool  # noqa: PLW0603 - created on first use, shared by the process's request threads
    if not store.concurrent_reads:
        return first(), second()
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="soul-read")
    later = _pool.submit(second)
    return first(), later.result()
