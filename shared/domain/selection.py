"""Which variant a user gets: the oldest ready variant they have not seen yet."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.domain.models import Variant


def pick_unseen(variants: Sequence[Variant], seen: Iterable[str]) -> Variant | None:
    seen_ids = set(seen)
    ready = sorted((v for v in variants if v.status == "ready"), key=lambda v: (v.created_at, v.variant_id))
    return next((v for v in ready if v.variant_id not in seen_ids), None)
