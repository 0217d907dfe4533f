"""Long polls (`wait=` on task reads and generation requests) hold a request thread each, so they are
bounded: at most SOUL_MAX_LONG_POLLS at once per API process and SOUL_MAX_LONG_POLLS_PER_USER per
user. The process bound stays below the thread count (THREADS), so health checks, cache hits and
plain reads always find a free thread however many clients long-poll (docs/ARCHITECTURE.md, long
polls). Past a bound a task read gets 429 with Retry-After; a generation request answers 202 at once
(its job is already queued: refusing it would lose the task id)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import RateLimited

RETRY_AFTER_SECONDS = 2.0


class LongPolls:
    """Counts the long polls in progress in this process, in total and per user."""

    def __init__(self, total: int, per_user: int) -> None:
        self.total = total
        self.per_user = per_user
        self._lock = threading.Lock()
        self._users: Counter[str] = Counter()

    @property
    def active(self) -> int:
        with self._lock:
            return sum(self._users.values())

    @contextmanager
    def hold(self, user_id: str | None, *, refuse: bool) -> Iterator[bool]:
        """True inside if a slot was taken; False (refuse=False) or RateLimited (refuse=True) if not."""
        user = user_id or ""
        with self._lock:
            free = sum(self._users.values()) < self.total and self._users[user] < self.per_user
            if free:
                self._users[user] += 1
        if not free and refuse:
            raise RateLimited(
                "too many long polls in progress (wait=); poll again later or without wait",
                code="too_many_waits",
                retry_after=RETRY_AFTER_SECONDS,
            )
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self._users[user] -= 1
                    if self._users[user] <= 0:
                        del self._users[user]
