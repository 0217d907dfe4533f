"""Typed access to Soul's collections on any DocumentStore (Firestore or SQLite).

Collection names live here and nowhere else; the Terraform consistency test reads them from here.
"""

from __future__ import annotations

import threading
import time
import weakref

from shared.domain.models import City, Job, JobStatus, SeenMarks, StyleProfile, Variant
from shared.errors import NotFound
from shared.ports import DocumentStore, Filter

STYLES = "styles"
CITIES = "cities"
PROMPT_KEYS = "prompt_keys"
VARIANTS = "variants"
JOBS = "jobs"
INFLIGHT = "inflight"
IDEMPOTENCY = "idempotency"
QUOTAS = "quotas"
USERS = "users"
PLACES = "places"  # per user + soul + city: when each landmark was last used (selfie LRU)
COUNTERS = "counters"  # sharded cache hit / miss counters
TIMINGS = "timings"  # measured generator timings (video estimates)
WAN_SLOTS = "wan_slots"  # DashScope account limits shared by all workers: concurrent tasks
WAN_SUBMIT_PERMITS = "wan_submit_permits"  # … and submissions per second
DISPATCH = "dispatch"  # dispatcher: one worker launch per lane per interval
DISPATCH_STATS = "dispatch_stats"  # dispatcher: launches counted per lane
COLLECTIONS = (
    STYLES,
    CITIES,
    PROMPT_KEYS,
    VARIANTS,
    JOBS,
    INFLIGHT,
    IDEMPOTENCY,
    QUOTAS,
    USERS,
    PLACES,
    COUNTERS,
    TIMINGS,
    WAN_SLOTS,
    DISPATCH,
    DISPATCH_STATS,
)


# Style profiles read on every request, cached per process and per store for a few seconds: a write
# through StyleService forgets the entry at once; another process sees it within STYLE_TTL_SECONDS
# (the style version is in the prompt key, so a stale read only serves what was current seconds ago).
STYLE_TTL_SECONDS = 5.0
_style_cache: weakref.WeakKeyDictionary[DocumentStore, dict[str, tuple[float, StyleProfile]]] = (
    weakref.WeakKeyDictionary()
)
_style_lock = threading.Lock()


def seen_collection(user_id: str) -> str:
    return f"{USERS}/{user_id}/seen"


class Records:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def style(self, soul_id: str, *, include_archived: bool = False) -> StyleProfile:
        doc = self.store.get(STYLES, soul_id)
        style = StyleProfile.model_validate(doc) if doc else None
        if style is None or (style.archived and not include_archived):
            raise NotFound(f"unknown soul '{soul_id}'; GET /style lists the souls")
        return style

    def cached_style(self, soul_id: str) -> StyleProfile:
        """`style(soul_id)` through the per-process TTL cache (the request path's one read it can skip)."""
        now = time.monotonic()
        with _style_lock:
            hit = _style_cache.get(self.store, {}).get(soul_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        style = self.style(soul_id)
        with _style_lock:
            _style_cache.setdefault(self.store, {})[soul_id] = (now + STYLE_TTL_SECONDS, style)
        return style

    def forget_style(self, soul_id: str) -> None:
        with _style_lock:
            _style_cache.get(self.store, {}).pop(soul_id, None)

    def styles(self) -> list[StyleProfile]:
        docs = self.store.query(STYLES, [("archived", "==", False)])
        return sorted((StyleProfile.model_validate(d) for d in docs), key=lambda s: s.soul_id)

    def city(self, city_key: str) -> City:
        doc = self.store.get(CITIES, city_key)
        if doc is None:
            raise NotFound(f"unknown city '{city_key}'; GET /places lists the cities")
        return City.model_validate(doc)

    def cities(self) -> list[City]:
        return sorted((City.model_validate(d) for d in self.store.query(CITIES)), key=lambda c: c.city_key)

    def job(self, job_id: str) -> Job:
        doc = self.store.get(JOBS, job_id)
        if doc is None:
            raise NotFound(f"task '{job_id}' not found")
        return Job.model_validate(doc)

    def jobs(self, *, user_id: str | None = None, status: JobStatus | None = None, limit: int = 50) -> list[Job]:
        filters: list[Filter] = []
        if user_id is not None:
            filters.append(("user_ids", "array_contains", user_id))
        if status is not None:
            filters.append(("status", "==", status.value))
        docs = self.store.query(JOBS, filters, order_by="created_at", descending=True, limit=limit)
        return [Job.model_validate(d) for d in docs]

    def variant(self, variant_id: str) -> Variant:
        doc = self.store.get(VARIANTS, variant_id)
        if doc is None:
            raise NotFound(f"variant '{variant_id}' not found")
        return Variant.model_validate(doc)

    def variants_for(self, pk: str) -> list[Variant]:
        docs = self.store.query(VARIANTS, [("pk", "==", pk)])
        return sorted((Variant.model_validate(d) for d in docs), key=lambda v: (v.created_at, v.variant_id))

    def seen_marks(self, user_id: str) -> list[SeenMarks]:
        return [SeenMarks.model_validate(d) for d in self.store.query(seen_collection(user_id))]

    def seen_ids(self, user_id: str) -> list[str]:
        """Every variant the user was shown, most recently seen first (by prompt key, then within it)."""
        marks = sorted(self.seen_marks(user_id), key=lambda m: (m.updated_at, m.pk), reverse=True)
        return [vid for m in marks for vid in reversed(m.variant_ids)]

    def variants_by_id(self, variant_ids: list[str]) -> list[Variant]:
        """The variants that still exist, in the order asked (one batched read)."""
        docs = self.store.get_many(VARIANTS, variant_ids) if variant_ids else []
        return [Variant.model_validate(d) for d in docs if d is not None]
