"""Reports from users and the administrators' decisions on them (docs/SAFETY.md, Reports).

A report is one document per variant and reporter (create-if-absent, so reporters are counted once)
plus Increments on the variant's queue entry: no document grows with its reporters. The reporter never
sees the variant again (it joins their seen list, whatever was served); at `to_hide` distinct reporters
it is hidden from everyone (status `hidden`: the hit path serves only `ready` variants, and no URL is
signed for it any more) and its key is never pre-generated again. Administrators remove (artifacts
deleted; optionally the prompt key blocked, which also hides the key's other variants) or restore a
hidden variant. Every step is an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.delivery import mark_seen
from shared.domain.models import Variant
from shared.errors import Conflict, NotFound
from shared.ids import new_id
from shared.ports import BlobStore, Clock, DocumentStore
from shared.records import AUDIT, BLOCKED_KEYS, REPORTED, REPORTS, VARIANTS, VARIANTS_READ, Records

REASONS = ("sexual", "minors", "violence", "self_harm", "hate", "illegal", "spam", "other")
QUEUE_PAGE_MAX = 100


@dataclass(frozen=True)
class ReportOutcome:
    reporters: int
    hidden: bool
    new: bool


class Reports:
    def __init__(self, store: DocumentStore, clock: Clock, blobs: BlobStore, *, to_hide: int) -> None:
        self.store, self.clock, self.blobs, self.to_hide = store, clock, blobs, to_hide

    # -- users ------------------------------------------------------------------------------------
    def report(self, user_id: str, variant: Variant, reason: str, note: str = "") -> ReportOutcome:
        """The caller checked the variant was served to `user_id` (shared/delivery.served_to)."""
        now = self.clock.now()
        doc = {"variant_id": variant.variant_id, "user_id": user_id, "reason": reason, "note": note, "at": now}
        new = self.store.create(REPORTS, f"{variant.variant_id}_{user_id}", doc)
        mark_seen(self.store, user_id=user_id, variant=variant, now=now)  # never shown to the reporter again
        if new:
            self.store.increment(REPORTED, variant.variant_id, "reporters")
            self.store.increment(REPORTED, variant.variant_id, f"reason_{reason}")
            self.store.update(
                REPORTED,
                variant.variant_id,
                {"variant_id": variant.variant_id, "pk": variant.pk, "label": variant.label, "last_at": now},
            )
            self._audit("reported", user_id, variant.variant_id, reason=reason, note=note)
        reporters = int((self.store.get(REPORTED, variant.variant_id) or {}).get("reporters", 0))
        hidden = variant.status != "ready"
        if not hidden and reporters >= self.to_hide:
            self._hide(variant, "reports")
            self._audit("hidden", "reports", variant.variant_id, reporters=reporters)
            hidden = True
        return ReportOutcome(reporters, hidden, new)

    # -- administrators ---------------------------------------------------------------------------
    def queue(self, limit: int, before: float | None = None) -> list[dict[str, Any]]:
        """Reported variants, most recently reported first; `before` pages on `last_at`."""
        size = min(limit, QUEUE_PAGE_MAX)
        if before is None:
            docs = self.store.query(REPORTED, [], order_by="last_at", descending=True, limit=size)
        else:
            docs = self.store.query(
                REPORTED, [("last_at", "<", before)], order_by="last_at", descending=True, limit=size
            )
        return [_entry(d) for d in docs]

    def remove(self, admin: str, variant_id: str, *, block_key: bool, note: str = "") -> Variant:
        variant = Records(self.store).variant(variant_id)
        for artifact in variant.artifacts.values():
            self.blobs.delete(artifact.name)
        self._hide(variant, "removed")
        if block_key:  # the prompt itself is unacceptable: no new job, and none of its variants served
            self.store.set(BLOCKED_KEYS, variant.pk, {"pk": variant.pk, "by": "admin", "at": self.clock.now()})
            for doc in self.store.query(VARIANTS, [("pk", "==", variant.pk)], limit=VARIANTS_READ):
                if doc.get("status", "ready") == "ready":
                    self.store.update(VARIANTS, str(doc["variant_id"]), {"status": "hidden"})
        self._mark(variant_id, {"status": "removed", "decided_by": admin, "decided_at": self.clock.now()})
        self._audit("removed", admin, variant_id, block_key=block_key, note=note)
        return variant.model_copy(update={"status": "removed"})

    def restore(self, admin: str, variant_id: str, note: str = "") -> Variant:
        doc = self.store.get(VARIANTS, variant_id)
        if doc is None:
            raise NotFound(f"variant '{variant_id}' not found")
        if doc.get("status") == "removed":
            raise Conflict(f"variant '{variant_id}' was removed: its artifacts are deleted and cannot come back")
        if doc.get("status") == "hidden":
            self.store.update(VARIANTS, variant_id, {"status": "ready"})
        blocked = self.store.get(BLOCKED_KEYS, str(doc["pk"]))
        if blocked is not None and blocked.get("by") in ("reports", "admin"):
            self.store.delete(BLOCKED_KEYS, str(doc["pk"]))
        self._mark(variant_id, {"status": "restored", "decided_by": admin, "decided_at": self.clock.now()})
        self._audit("restored", admin, variant_id, note=note)
        return Records(self.store).variant(variant_id)

    # -- internals --------------------------------------------------------------------------------
    def _hide(self, variant: Variant, status: str) -> None:
        self.store.update(VARIANTS, variant.variant_id, {"status": "hidden" if status == "reports" else status})
        self.store.create(BLOCKED_KEYS, variant.pk, {"pk": variant.pk, "by": "reports", "at": self.clock.now()})

    def _mark(self, variant_id: str, fields: dict[str, Any]) -> None:
        if self.store.get(REPORTED, variant_id) is None:
            self.store.set(
                REPORTED, variant_id, {"variant_id": variant_id, "reporters": 0, "last_at": self.clock.now()}
            )
        self.store.update(REPORTED, variant_id, fields)

    def _audit(self, action: str, who: str, variant_id: str, **details: Any) -> None:
        doc = {"action": action, "user_id": who, "variant_id": variant_id, "at": self.clock.now(), **details}
        self.store.create(AUDIT, new_id(), doc)


def _entry(doc: dict[str, Any]) -> dict[str, Any]:
    reasons = {k.removeprefix("reason_"): int(v) for k, v in doc.items() if k.startswith("reason_")}
    return {**{k: v for k, v in doc.items() if not k.startswith("reason_")}, "reasons": reasons}
