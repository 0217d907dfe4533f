"""Per-user quotas on generation requests, checked before anything is enqueued.

Two limits, both fixed windows on the caller's clock: a rate limit (requests per UTC minute) and a
daily cap (requests per UTC day). Every request to a route that may enqueue counts, cache hits
included: the check has to happen before we know whether it will be a hit. Over either limit →
RateLimited (429) with Retry-After = seconds until that window ends.

Two adapters, one semantics: Redis (REDIS_URL set; one Lua script reads and increments both counters
atomically) and the record store (one document per user in `quotas`, read and written in a
transaction). Both fail closed: a quota store that cannot answer gives 503, never a free pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis

from shared.errors import RateLimited, TransactionConflict, Unavailable
from shared.logging import get_logger
from shared.ports import Clock, DocumentStore, Tx
from shared.records import QUOTA_LIFETIME_SECONDS, QUOTAS, TTL_FIELD

log = get_logger("soul.quota")

MINUTE = 60
DAY = 86_400


class Quota(Protocol):
    def take(self, user_id: str) -> None:
        """Count one generation request for `user_id`; RateLimited if a limit is reached."""
        ...

    def peek(self, user_id: str) -> None:
        """RateLimited if `take` would refuse now; counts and writes nothing (checked before paid work
        that a refused request must not cause, such as embedding a cue: docs/THREATS.md)."""
        ...


@dataclass(frozen=True)
class Limits:
    per_minute: int
    per_day: int


@dataclass(frozen=True)
class Windows:
    """The current minute and day windows (numbered from the epoch) and the seconds left in each."""

    minute: int
    day: int
    minute_left: float
    day_left: float

    @classmethod
    def at(cls, now: float) -> Windows:
        minute, day = int(now // MINUTE), int(now // DAY)
        return cls(minute, day, (minute + 1) * MINUTE - now, (day + 1) * DAY - now)


def refuse(which: str, limits: Limits, windows: Windows) -> RateLimited:
    if which == "minute":
        return RateLimited(
            f"rate limit: {limits.per_minute} generation requests per minute",
            code="rate_limited",
            retry_after=windows.minute_left,
        )
    return RateLimited(
        f"daily cap: {limits.per_day} generation requests per day (UTC)",
        code="daily_cap_reached",
        retry_after=windows.day_left,
    )


def _refuse_over(minute: int, day: int, limits: Limits, windows: Windows) -> None:
    if minute >= limits.per_minute:
        raise refuse("minute", limits, windows)
    if day >= limits.per_day:
        raise refuse("day", limits, windows)


# KEYS: minute counter, day counter. ARGV: per-minute limit, daily cap, minute TTL, day TTL.
# Returns "ok", "minute" or "day". Reads and increments run as one atomic step on the server.
SCRIPT = """
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
if minute >= tonumber(ARGV[1]) then return 'minute' end
if day >= tonumber(ARGV[2]) then return 'day' end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 'ok'
"""


class RedisQuota:
    """Counters in Redis, `{user}` as the hash tag so both keys of a user live on one cluster slot."""

    def __init__(self, client: redis.Redis, limits: Limits, clock: Clock, prefix: str = "soul:quota") -> None:
        self._script: Any = client.register_script(SCRIPT)  # registering sends nothing
        self._client = client
        self._limits = limits
        self._clock = clock
        self._prefix = prefix

    def take(self, user_id: str) -> None:
        w = Windows.at(self._clock.now())
        keys = [f"{self._prefix}:{{{user_id}}}:m:{w.minute}", f"{self._prefix}:{{{user_id}}}:d:{w.day}"]
        args = [self._limits.per_minute, self._limits.per_day, 2 * MINUTE, 2 * DAY]
        try:
            verdict = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            log.warning("quota store unavailable", extra={"error_type": type(exc).__name__})
            raise Unavailable("quota service unavailable; try again", retry_after=5) from None
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        if verdict != "ok":
            raise refuse(verdict, self._limits, w)

    def peek(self, user_id: str) -> None:
        w = Windows.at(self._clock.now())
        keys = [f"{self._prefix}:{{{user_id}}}:m:{w.minute}", f"{self._prefix}:{{{user_id}}}:d:{w.day}"]
        try:
            minute, day = (int(v or 0) for v in self._client.mget(keys))
        except redis.RedisError as exc:
            log.warning("quota store unavailable", extra={"error_type": type(exc).__name__})
            raise Unavailable("quota service unavailable; try again", retry_after=5) from None
        _refuse_over(minute, day, self._limits, w)


class StoreQuota:
    """Counters in `quotas/{user_id}`: one small document per user, so no hot shared document."""

    def __init__(self, store: DocumentStore, limits: Limits, clock: Clock) -> None:
        self._store = store
        self._limits = limits
        self._clock = clock

    def take(self, user_id: str) -> None:
        now = self._clock.now()
        w = Windows.at(now)

        def run(tx: Tx) -> str:
            doc = tx.get(QUOTAS, user_id) or {}
            minute = int(doc.get("minute_count", 0)) if doc.get("minute") == w.minute else 0
            day = int(doc.get("day_count", 0)) if doc.get("day") == w.day else 0
            if minute >= self._limits.per_minute:
                return "minute"
            if day >= self._limits.per_day:
                return "day"
            fields: dict[str, float] = {"minute": w.minute, "minute_count": minute + 1, "day": w.day}
            fields["day_count"] = day + 1
            fields[TTL_FIELD] = now + QUOTA_LIFETIME_SECONDS  # Firestore's TTL deletes an idle user's counters
            tx.set(QUOTAS, user_id, fields)
            return "ok"

        try:
            verdict = self._store.transaction(run)
        except TransactionConflict:
            # Many concurrent requests from one user lost the race: treat them as over the limit.
            raise RateLimited("too many concurrent requests; try again", retry_after=1) from None
        if verdict != "ok":
            raise refuse(verdict, self._limits, w)

    def peek(self, user_id: str) -> None:
        w = Windows.at(self._clock.now())
        doc = self._store.get(QUOTAS, user_id) or {}
        minute = int(doc.get("minute_count", 0)) if doc.get("minute") == w.minute else 0
        day = int(doc.get("day_count", 0)) if doc.get("day") == w.day else 0
        _refuse_over(minute, day, self._limits, w)
