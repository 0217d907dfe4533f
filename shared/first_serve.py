"""Who pays for a pre-generated variant (docs/THREATS.md, "Pre-generation and the quota").

A pre-generated variant was made for no one's request, so no one's quota paid for it. The first user
it is served to pays: one generation from their rate limit and daily cap, charged when the hit path
picks it, before it joins their seen list. A create-if-absent claim per variant (`first_served`)
decides who is first: a variant someone else was served first is a free hit, as any cached variant
is; a retry of the same user (a lost compare-and-set) finds their own claim and is not charged twice.
A refused charge (429) takes the claim back, so the variant stays fresh for the next user, and the
refused user is shown nothing new: past the cap, no new variant by any path.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.domain.models import Variant
from shared.errors import SoulError
from shared.ports import DocumentStore
from shared.records import FIRST_SERVED, TTL_FIELD, VARIANT_LIFETIME_DAYS


def admit(store: DocumentStore, user_id: str, variant: Variant, now: float, take_quota: Callable[[str], None]) -> None:
    """Charge `user_id` if they are the first to be served the pre-generated `variant` (raises if refused)."""
    if not variant.pregen:
        return
    expire = variant.expire_at or now + VARIANT_LIFETIME_DAYS * 86400.0  # the claim lives as long as the variant
    if not store.create(FIRST_SERVED, variant.variant_id, {"user_id": user_id, "at": now, TTL_FIELD: expire}):
        return  # served to someone first already (or to this user, on a retry): free
    try:
        take_quota(user_id)
    except SoulError:
        store.delete(FIRST_SERVED, variant.variant_id)
        raise
