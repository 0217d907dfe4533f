"""Pre-generation (docs/ARCHITECTURE.md, Pre-generation): keep the next variant of a hot key ready before its users ask
for it.

- `DemandRecorder.note` runs on every request that passed the quota (a hit, or a charged miss: a
  refused request is no demand), in memory only (no round trip on the hit path): the
  key's decayed request count and who asked for it recently. Every FLUSH_SECONDS, the keys asked for
  since the last flush are looked at (at most KEYS_PER_FLUSH, hottest first): the prompt key's
  variant count and each active user's seen list (data Soul already writes) give each user's unseen
  headroom; shared/domain/demand.decide says what to enqueue, and only for a key at least
  SOUL_PREGEN_MIN_USERS distinct active users asked for. The first user served a pre-generated variant
  pays for it from their quota (shared/first_serve.py).
- A pre-generation job is an ordinary job of the key (same spec, its own seed) published on the
  lane's low-priority twin ("image-low"): no in-flight marker, no waiter. Its variant is an ordinary
  variant the hit path serves. Workers take a low lane only when their lane has nothing waiting
  (`pull_next`), one batch at a time, so a user's job waits at most one batch behind it.
- Budget: SOUL_PREGEN_DAILY_GPU_SECONDS (0, the default, turns all of this off). Each job is charged
  its lane's GPU_SECONDS_PER_JOB when it is enqueued, in one counter document per UTC day; nothing is
  enqueued past the budget and the cloud launcher starts no worker for a low lane past it.
(docs/ARCHITECTURE.md, pre-generation.) Known limit: each API process sees only its own requests, and
processes racing at the end of the budget may overrun it by one flush's worth of jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.bootstrap import Backend
from shared.domain.demand import (
    GPU_SECONDS_PER_JOB,
    PREGEN_BASE_LANES,
    DecayedRate,
    KeyState,
    Policy,
    Refill,
    decide,
    low_lane,
)
from shared.domain.models import GenerationSpec, Job, JobMessage, JobStatus, Kind, PromptKey, SeenMarks
from shared.errors import NotFound
from shared.ids import new_id, seed_from
from shared.lifecycle import mark_published
from shared.logging import get_logger
from shared.ports import Delivery, JobQueue
from shared.pregen_budget import budget_left, charge
from shared.records import (
    BLOCKED_KEYS,
    JOB_LIFETIME_SECONDS,
    JOBS,
    PROMPT_KEYS,
    Records,
    seen_collection,
)

log = get_logger("soul.pregen")
OWNER = "pregen"  # the owner of pre-generation jobs: no user waits for them
FLUSH_SECONDS = 5.0
KEYS_PER_FLUSH = 32
USERS_READ = 16  # most recent active users of a key whose seen lists are read at a flush
MAX_KEYS = 5000  # keys remembered per process; the coldest are forgotten first
FlushMode = Literal["thread", "inline", "manual"]


def enabled(settings: object) -> bool:
    return float(getattr(settings, "soul_pregen_daily_gpu_seconds", 0.0)) > 0


def pull_next(
    queue: JobQueue, lane: str, max_messages: int, timeout: float, *, low: bool
) -> tuple[str, list[Delivery]]:
    """A batch from `lane`; only when it has nothing waiting (and `low`), a batch from its low twin."""
    got = queue.pull(lane, max_messages, timeout)
    if got or not low or lane not in PREGEN_BASE_LANES:
        return lane, got
    twin = low_lane(lane)
    return twin, queue.pull(twin, max_messages, 0.0)


@dataclass
class _Key:
    key: PromptKey
    lane: str
    spec_fields: dict[str, object]
    rate: DecayedRate
    users: dict[str, float] = field(default_factory=dict)  # user -> when they last asked
    askers: set[str] = field(default_factory=set)  # distinct users who asked, up to the policy's min_users
    jobs: list[str] = field(default_factory=list)  # pre-generation jobs not yet seen finished
    touched: bool = True


class DemandRecorder:
    def __init__(self, backend: Backend, policy: Policy | None = None, *, flush_mode: FlushMode = "thread") -> None:
        self.backend = backend
        self.policy = policy or Policy(min_users=backend.settings.soul_pregen_min_users)
        self.daily_seconds = float(backend.settings.soul_pregen_daily_gpu_seconds)
        # "thread": a due flush runs beside the request that noticed it (the API); "inline": in it;
        # "manual": only when `flush` / `flush_if_due` is called (tests, the simulation).
        self.flush_mode = flush_mode
        self.records = Records(backend.store)
        self.enqueued = 0
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._flushed_at = float("-inf")

    # -- the request path: memory only -----------------------------------------------------------
    def note(self, user_id: str, key: PromptKey, spec_fields: Mapping[str, object], now: float) -> None:
        if self.daily_seconds <= 0 or key.kind.lane not in PREGEN_BASE_LANES:
            return
        with self._lock:
            entry = self._keys.get(key.pk)
            if entry is None:
                entry = _Key(key, key.kind.lane, dict(spec_fields), DecayedRate(self.policy.half_life))
                self._keys[key.pk] = entry
            entry.rate.bump(now)
            entry.users.pop(user_id, None)
            entry.users[user_id] = now  # insertion order = recency
            if len(entry.askers) < self.policy.min_users:
                entry.askers.add(user_id)
            entry.touched = True
        if self.flush_mode == "inline":
            self.flush_if_due(now)
        elif self.flush_mode == "thread" and self.due(now):
            threading.Thread(target=self.flush_if_due, args=(now,), daemon=True, name="pregen-flush").start()

    def due(self, now: float) -> bool:
        return self.daily_seconds > 0 and now - self._flushed_at >= FLUSH_SECONDS

    def flush_if_due(self, now: float) -> list[Job]:
        return self.flush(now) if self.due(now) else []

    # -- the flush: a few bounded reads, then the policy ------------------------------------------
    def flush(self, now: float) -> list[Job]:
        if not self._flushing.acquire(blocking=False):
            return []  # one flush at a time per process
        try:
            with self._lock:
                self._flushed_at = now
                picked = self._pick(now)
            states = [s for s in (self._state(e, users, now) for e, users in picked) if s is not None]
            refills = decide(states, budget_left(self.backend.store, self.daily_seconds, now), self.policy)
            return [job for r in refills for job in self._enqueue(r, now)]
        except Exception:  # pre-generation is best effort: never fail or slow a user's request over it
            log.warning("pre-generation flush failed", exc_info=True)
            return []
        finally:
            self._flushing.release()

    def _pick(self, now: float) -> list[tuple[_Key, list[str]]]:
        """(Under the lock) the hottest keys asked for since the last flush, with their active users."""
        touched = sorted((e for e in self._keys.values() if e.touched), key=lambda e: -e.rate.at_time(now))
        picked = []
        horizon = now - self.policy.active_seconds
        for entry in touched[:KEYS_PER_FLUSH]:
            entry.touched = False
            entry.users = {u: t for u, t in entry.users.items() if t >= horizon}
            picked.append((entry, list(entry.users)[-USERS_READ:]))
        if len(self._keys) > MAX_KEYS:
            coldest = sorted(self._keys.values(), key=lambda e: e.rate.at_time(now))
            for entry in coldest[: len(self._keys) - MAX_KEYS]:
                del self._keys[entry.key.pk]
        return picked

    def _state(self, entry: _Key, users: list[str], now: float) -> KeyState | None:
        store, key = self.backend.store, entry.key
        rate = entry.rate.at_time(now)
        if rate < self.policy.hot_count:
            return None  # cold: not one read spent on it
        key_doc = store.get(PROMPT_KEYS, key.pk)
        if key_doc is None:
            return None
        count = int(key_doc.get("variant_count", 0))
        unseen = tuple(max(0, count - len(self._seen(u, key.pk))) for u in users)
        if entry.jobs:
            docs = store.get_many(JOBS, entry.jobs)
            live = [d for d in docs if d is not None and not JobStatus(d["status"]).terminal]
            entry.jobs = [str(d["job_id"]) for d in live]
        current = self._current(key)
        return KeyState(key.pk, entry.lane, rate, unseen, len(entry.jobs), current, len(entry.askers))

    def _seen(self, user_id: str, pk: str) -> list[str]:
        doc = self.backend.store.get(seen_collection(user_id), pk)
        return SeenMarks.model_validate(doc).variant_ids if doc else []

    def _current(self, key: PromptKey) -> bool:
        """Whether the key's style version is still the style's: a changed style makes new keys."""
        if key.kind not in (Kind.IMAGE, Kind.SELFIE):
            return True
        try:
            return self.records.cached_style(key.soul_id).version == key.style_version
        except NotFound:
            return False

    def _enqueue(self, refill: Refill, now: float) -> list[Job]:
        entry = self._keys.get(refill.pk)
        if entry is None or self.backend.store.get(BLOCKED_KEYS, refill.pk) is not None:
            return []  # content safety: a key whose output was blocked or removed is never made ahead
        charge(self.backend.store, refill.count * GPU_SECONDS_PER_JOB[refill.lane], now)
        jobs = [self._submit(entry, now) for _ in range(refill.count)]
        with self._lock:
            entry.jobs.extend(j.job_id for j in jobs)
        self.enqueued += len(jobs)
        log.info("pre-generation queued", extra={"pk": refill.pk, "jobs": len(jobs)})
        return jobs

    def _submit(self, entry: _Key, now: float) -> Job:
        variant_id = new_id()
        spec = GenerationSpec.model_validate({**entry.spec_fields, "seed": seed_from(entry.key.pk, variant_id)})
        lane = low_lane(entry.lane)
        job = Job(
            job_id=new_id(),
            kind=spec.kind,
            lane=lane,
            pk=entry.key.pk,
            spec=spec,
            variant_id=variant_id,
            request={"text": entry.key.text, "pregen": True},
            owner=OWNER,
            user_ids=[],
            created_at=now,
            updated_at=now,
            expire_at=now + JOB_LIFETIME_SECONDS,
        )
        self.backend.store.create(JOBS, job.job_id, job.doc())  # the job exists before its message
        self.backend.queue.publish(lane, JobMessage(job_id=job.job_id, lane=lane).model_dump_json().encode())
        mark_published(self.backend.store, job.job_id)
        return job
