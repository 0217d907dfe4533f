"""The Wan account's limits shared by every worker: a few concurrent tasks, a few submits per second.

Both live in the DocumentStore, so they hold across processes and machines on SQLite and Firestore
alike. Concurrency: `max_concurrent` slot documents (`wan_slots/slot-i`); a worker claims a free or
expired one in a transaction and renews its expiry while it polls, so a crashed worker's slot frees
itself after `slot_ttl_s`. The slots are separate small documents, not one counter, so claims do not
all fight over one hot document. Submit rate: permits are create-if-absent documents named after the
current second (`wan_submit_permits/{second}-{k}`, k < per_second), which needs no transaction at all.
Permit documents carry `expire_at` (records.TTL_FIELD), so Firestore's TTL policy deletes them an hour
on; locally they are a few bytes per paid task and are left alone. The slots are a fixed set of
documents, reused, so they need no TTL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.ports import Clock, DocumentStore, Tx
from shared.records import PERMIT_LIFETIME_SECONDS, TTL_FIELD, WAN_SLOTS, WAN_SUBMIT_PERMITS


@dataclass(frozen=True)
class Slot:
    slot_id: str
    token: str


class WanAccountLimits:
    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        max_concurrent: int = 2,
        submits_per_second: int = 2,
        slot_ttl_s: float = 900.0,
    ) -> None:
        if max_concurrent < 1 or submits_per_second < 1:
            raise ValueError("Wan limits must allow at least one task and one submit per second")
        self._store = store
        self._clock = clock
        self._slot_ids = [f"slot-{i}" for i in range(max_concurrent)]
        self._per_second = submits_per_second
        self._ttl = slot_ttl_s

    def try_claim(self, token: str, task_id: str | None = None) -> Slot | None:
        """A free slot (or the one already bound to `task_id`, when resuming), or None if all are busy."""
        now = self._clock.now()

        def claim(tx: Tx) -> str | None:
            docs = [tx.get(WAN_SLOTS, slot_id) for slot_id in self._slot_ids]
            mine = [
                s for s, d in zip(self._slot_ids, docs, strict=True) if task_id and d and d.get("task_id") == task_id
            ]
            free = [s for s, d in zip(self._slot_ids, docs, strict=True) if d is None or d["expires_at"] <= now]
            chosen = (mine + free)[0] if mine or free else None
            if chosen is not None:
                tx.set(WAN_SLOTS, chosen, {"token": token, "task_id": task_id, "expires_at": now + self._ttl})
            return chosen

        slot_id = self._store.transaction(claim)
        return Slot(slot_id, token) if slot_id else None

    def bind(self, slot: Slot, task_id: str) -> None:
        """Record the remote task on the slot, so a restarted worker resuming it takes the same slot."""
        self._update_if_owner(slot, {"task_id": task_id, "expires_at": self._clock.now() + self._ttl})

    def renew(self, slot: Slot) -> None:
        self._update_if_owner(slot, {"expires_at": self._clock.now() + self._ttl})

    def release(self, slot: Slot) -> None:
        def drop(tx: Tx) -> None:
            doc = tx.get(WAN_SLOTS, slot.slot_id)
            if doc is not None and doc.get("token") == slot.token:
                tx.delete(WAN_SLOTS, slot.slot_id)

        self._store.transaction(drop)

    def _update_if_owner(self, slot: Slot, fields: dict[str, object]) -> None:
        # Only the holder may touch its slot: after expiry another worker may own it.
        def update(tx: Tx) -> None:
            doc = tx.get(WAN_SLOTS, slot.slot_id)
            if doc is not None and doc.get("token") == slot.token:
                tx.update(WAN_SLOTS, slot.slot_id, dict(fields))

        self._store.transaction(update)

    def try_submit_permit(self) -> bool:
        """One of this second's `submits_per_second` permits, or False (try again next second)."""
        now = self._clock.now()
        second = math.floor(now)
        for k in range(self._per_second):
            permit = {"at": now, TTL_FIELD: second + PERMIT_LIFETIME_SECONDS}
            if self._store.create(WAN_SUBMIT_PERMITS, f"{second}-{k}", permit):
                return True
        return False

    def seconds_to_next_window(self) -> float:
        now = self._clock.now()
        return max(0.01, math.floor(now) + 1 - now)
