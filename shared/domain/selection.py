"""Which variant a user gets: the oldest ready, unexpired variant they have not seen yet.

A user's seen list per prompt key is bounded (SEEN_PER_KEY, oldest dropped first) so that document
never grows past a few KB however often one user comes back to one key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.domain.models import SeenMarks, Variant

SEEN_PER_KEY = 200  # 200 ULIDs ≈ 6 KB: well under Firestore's 1 MiB and the 10 KB target
DAY = 86400.0
# A variant is served only while its objects outlive any URL signed now (URLs last ≤ 7 days,
# docs/ARCHITECTURE.md, HTTP API), so the hit path never hands out a link the bucket lifecycle deletes under it.
SERVE_MARGIN_SECONDS = 7 * DAY


def servable(variant: Variant, now: float) -> bool:
    return variant.status == "ready" and (not variant.expire_at or variant.expire_at > now + SERVE_MARGIN_SECONDS)


def pick_unseen(variants: Sequence[Variant], seen: Iterable[str], now: float = 0.0) -> Variant | None:
    seen_ids = set(seen)
    ready = sorted((v for v in variants if servable(v, now)), key=lambda v: (v.created_at, v.variant_id))
    return next((v for v in ready if v.variant_id not in seen_ids), None)


def remember(marks: SeenMarks, variant_id: str, now: float) -> SeenMarks:
    """`marks` with `variant_id` appended (once), trimmed to the newest SEEN_PER_KEY."""
    ids = [v for v in marks.variant_ids if v != variant_id] + [variant_id]
    return marks.model_copy(update={"variant_ids": ids[-SEEN_PER_KEY:], "updated_at": now})
