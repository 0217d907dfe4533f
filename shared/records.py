"""Typed access to Soul's collections on any DocumentStore (Firestore or SQLite).

Collection names live here and nowhere else; the Terraform consistency test reads them from here.
Every query here has a limit: a popular key or a long-lived user never makes a read unbounded.
Records that expire carry `expire_at` (TTL_FIELD): epoch seconds in the code, a Firestore timestamp
on the wire (the gcp adapter converts it), so Firestore's TTL policy on that field deletes them.
"""

from __future__ import annotations

import threading
import time
import weakref

from shared.domain.models import City, Job, JobStatus, SeenMarks, StyleProfile, Variant, Waiter
from shared.errors import NotFound
from shared.ports import DocumentStore, Filter

STYLES = "styles"
CITIES = "cities"
PROMPT_KEYS = "prompt_keys"
VARIANTS = "variants"
JOBS = "jobs"
INFLIGHT = "inflight"  # per prompt key: the job that new requests for it attach to (single-flight)
WAITERS = "waiters"  # per job + user: who waits for a shared job (never an array on the job)
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
FIRST_SERVED = "first_served"  # per pre-generated variant: who was served it first (and paid for it)
WORKERS = "workers"  # per lane: what the last worker to start runs there (/info); fixed size, no TTL
RECONCILE = "reconcile"  # the reconcile pass's place in the bucket (one document: `orphans`); no TTL
# Semantic merges (shared/keylinks.py, docs/SEMANTIC.md): per request key, which key it joined; permanent.
KEY_LINKS = "key_links"
# Content safety (shared/safety, docs/SAFETY.md): permanent records, no TTL.
MODERATION = "moderation"  # per normalized text + policy: the decision of a remote moderator (its cache)
AUDIT = "audit"  # one per blocked request, report and admin decision: who, when, what
REPORTS = "reports"  # per variant + reporter (create-if-absent: distinct reporters)
REPORTED = "reported"  # per reported variant: the review queue entry (counts by Increment)
BLOCKED_KEYS = "blocked_keys"  # per prompt key: never pre-generated again; refused outright when by an admin
COLLECTIONS = (
    STYLES,
    MODERATION,
    AUDIT,
    REPORTS,
    REPORTED,
    BLOCKED_KEYS,
    CITIES,
    PROMPT_KEYS,
    VARIANTS,
    JOBS,
    INFLIGHT,
    WAITERS,
    IDEMPOTENCY,
    QUOTAS,
    USERS,
    PLACES,
    COUNTERS,
    TIMINGS,
    WAN_SLOTS,
    DISPATCH,
    DISPATCH_STATS,
    FIRST_SERVED,
    WORKERS,
    KEY_LINKS,
    RECONCILE,
)


# Style profiles read on every request, cached per process and per store for a few seconds: a write
# through StyleService forgets the entry at once; another process sees it within STYLE_TTL_SECONDS
# (the style version is in the prompt key, so a stale read only serves what was current seconds ago).
STYLE_TTL_SECONDS = 5.0
_style_cache: weakref.WeakKeyDictionary[DocumentStore, dict[str, tuple[float, StyleProfile]]] = (
    weakref.WeakKeyDictionary()
)
_style_lock = threading.Lock()


TTL_FIELD = "expire_at"
# Terraform's TTL policies (tests check they agree): the records above, and the scratch collections that
# grow with users, keys or time (one document per request key, user, interval, second or day). Fixed-size
# ones (wan_slots, dispatch_stats: one document per slot or lane) and the permanent ones (prompt_keys,
# semantic_keys, styles, cities, timings) carry no TTL. In `counters` only the pre-generation budget
# documents carry expire_at; the cache counter shards have none, so the policy leaves them alone.
TTL_COLLECTIONS = (
    FIRST_SERVED,
    VARIANTS,
    JOBS,
    INFLIGHT,
    WAITERS,
    IDEMPOTENCY,
    QUOTAS,
    DISPATCH,
    WAN_SUBMIT_PERMITS,
    COUNTERS,
    PLACES,
)
# Variant records live exactly as long as their objects: the bucket deletes objects at this age
# (terraform/modules/storage `artifact_max_age_days`, default 90; a unit test checks they agree).
VARIANT_LIFETIME_DAYS = 90
JOB_LIFETIME_SECONDS = 30 * 86400.0  # jobs and their waiters: a month of task history
# Scratch lifetimes, counted from each write (a rewrite pushes expire_at on):
IDEMPOTENCY_LIFETIME_SECONDS = 86400.0  # an Idempotency-Key replays its first response for a day
QUOTA_LIFETIME_SECONDS = 2 * 86400.0  # a user's counters outlive their day window (a day) by a day
DISPATCH_SLOT_LIFETIME_SECONDS = 86400.0  # a slot only matters in its interval (seconds to minutes)
PERMIT_LIFETIME_SECONDS = 3600.0  # a Wan submit permit only matters in its second
BUDGET_LIFETIME_SECONDS = 2 * 86400.0  # a pre-generation budget is read on its UTC day only
PLACES_LIFETIME_SECONDS = 90 * 86400.0  # a user's landmark history for a soul and city, after its last selfie
SEEN_DOCS_READ = 100  # the seen list reads the user's most recently used prompt keys, at most this many
VARIANTS_READ = 500  # GET /image/variants/{pk}: the oldest this many
JOBS_SCANNED = 500  # GET /tasks?status=… for one user: waiter documents looked through at most


def seen_collection(user_id: str) -> str:
    return f"{USERS}/{user_id}/seen"


def waiter_id(job_id: str, user_id: str) -> str:
    return f"{job_id}_{user_id}"


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

    def jobs(self, *, status: JobStatus | None = None, limit: int = 50) -> list[Job]:
        """Every user's jobs, newest first (operators)."""
        filters: list[Filter] = []
        if status is not None:
            filters.append(("status", "==", status.value))
        docs = self.store.query(JOBS, filters, order_by="created_at", descending=True, limit=limit)
        return [Job.model_validate(d) for d in docs]

    def waiter(self, job_id: str, user_id: str) -> Waiter | None:
        doc = self.store.get(WAITERS, waiter_id(job_id, user_id))
        return Waiter.model_validate(doc) if doc else None

    def user_jobs(self, user_id: str, *, limit: int = 50) -> list[tuple[Job, Waiter]]:
        """The user's jobs (newest waiter documents first) with how the user waits for each."""
        docs = self.store.query(
            WAITERS, [("user_id", "==", user_id)], order_by="created_at", descending=True, limit=limit
        )
        waiters = [Waiter.model_validate(d) for d in docs]
        jobs = self.store.get_many(JOBS, [w.job_id for w in waiters]) if waiters else []
        return [(Job.model_validate(j), w) for j, w in zip(jobs, waiters, strict=True) if j is not None]

    def variant(self, variant_id: str) -> Variant:
        doc = self.store.get(VARIANTS, variant_id)
        if doc is None:
            raise NotFound(f"variant '{variant_id}' not found")
        return Variant.model_validate(doc)

    def variants_for(self, pk: str) -> list[Variant]:
        docs = self.store.query(VARIANTS, [("pk", "==", pk)], limit=VARIANTS_READ)
        return sorted((Variant.model_validate(d) for d in docs), key=lambda v: (v.created_at, v.variant_id))

    def seen_marks(self, user_id: str) -> list[SeenMarks]:
        """The user's seen documents for their SEEN_DOCS_READ most recently used prompt keys."""
        docs = self.store.query(seen_collection(user_id), order_by="updated_at", descending=True, limit=SEEN_DOCS_READ)
        return [SeenMarks.model_validate(d) for d in docs]

    def seen_ids(self, user_id: str) -> list[str]:
        """Every variant the user was shown, most recently seen first (by prompt key, then within it)."""
        marks = sorted(self.seen_marks(user_id), key=lambda m: (m.updated_at, m.pk), reverse=True)
        return [vid for m in marks for vid in reversed(m.variant_ids)]

    def variants_by_id(self, variant_ids: list[str]) -> list[Variant]:
        """The variants that still exist, in the order asked (one batched read)."""
        docs = self.store.get_many(VARIANTS, variant_ids) if variant_ids else []
        return [Variant.model_validate(d) for d in docs if d is not None]
