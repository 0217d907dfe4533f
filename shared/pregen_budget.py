"""The pre-generation budget (docs/ARCHITECTURE.md, Pre-generation): GPU seconds spent today, kept in one
counter document per UTC day. Below both the pre-generation policy (shared/pregen.py charges and reads
it) and the cloud launcher (shared/adapters/gcp_run.py starts no low-lane worker past it), so neither
reaches into the other."""

from __future__ import annotations

from shared.domain.demand import day_of
from shared.ports import DocumentStore
from shared.records import BUDGET_LIFETIME_SECONDS, COUNTERS, TTL_FIELD


def _budget_doc(now: float) -> str:
    return f"pregen-{day_of(now)}"


def spent_seconds(store: DocumentStore, now: float) -> float:
    doc = store.get(COUNTERS, _budget_doc(now)) or {}
    return int(doc.get("gpu_ms", 0)) / 1000.0


def budget_left(store: DocumentStore, daily_seconds: float, now: float) -> float:
    return max(0.0, daily_seconds - spent_seconds(store, now)) if daily_seconds > 0 else 0.0


def charge(store: DocumentStore, seconds: float, now: float) -> None:
    store.increment(COUNTERS, _budget_doc(now), "gpu_ms", round(seconds * 1000))
    # One budget document per UTC day: Firestore's TTL policy deletes it once its day is long past.
    store.update(COUNTERS, _budget_doc(now), {TTL_FIELD: now + BUDGET_LIFETIME_SECONDS})
