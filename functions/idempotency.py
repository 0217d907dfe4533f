"""`Idempotency-Key` on POSTs: the same key and request replay the first response; the same key with
a different request is refused (422); a concurrent duplicate while the first runs gets 409 with
Retry-After. A key belongs to its caller (the record's id is made of the caller and the key): another
user's identical key is another record, so it neither replays nor refuses nor reveals anything. A key
is remembered for IDEMPOTENCY_LIFETIME_SECONDS (a day) after its last write: the record's `expire_at`
lets Firestore's TTL policy delete it; a retry after that runs the request again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response

from shared.errors import Conflict, InvalidInput, SoulError
from shared.ids import digest
from shared.ports import Clock, DocumentStore, Tx
from shared.records import IDEMPOTENCY, IDEMPOTENCY_LIFETIME_SECONDS, TTL_FIELD

MAX_KEY_LENGTH = 200
PENDING_SECONDS = 120.0
RETRY_AFTER_SECONDS = 2.0


class StillInProgress(Conflict):
    """409 with Retry-After: the first request with this key is still running."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Idempotency:
    def __init__(self, store: DocumentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def run(self, key: str, caller: str, fingerprint: list[Any], fn: Callable[[], Response]) -> Response:
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidInput(f"Idempotency-Key longer than {MAX_KEY_LENGTH} characters")
        doc_id, fp = digest("idempotency", caller, key), digest(fingerprint)
        stored = self._reserve(doc_id, fp)
        if stored is not None:
            return Response(
                stored["body"],
                status=int(stored["status"]),
                mimetype="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            response = fn()
        except SoulError:
            self._store.delete(IDEMPOTENCY, doc_id)  # nothing was done: let the client retry the key
            raise
        record = {
            "fingerprint": fp,
            "state": "done",
            "status": response.status_code,
            "body": response.get_data(as_text=True),
            "created_at": self._clock.now(),
            TTL_FIELD: self._clock.now() + IDEMPOTENCY_LIFETIME_SECONDS,  # Firestore's TTL policy deletes it
        }
        self._store.set(IDEMPOTENCY, doc_id, record)
        return response

    def _reserve(self, doc_id: str, fp: str) -> dict[str, Any] | None:
        now = self._clock.now()

        def run(tx: Tx) -> dict[str, Any] | None:
            doc = tx.get(IDEMPOTENCY, doc_id)
            stale = doc is not None and doc["state"] == "pending" and now - float(doc["created_at"]) > PENDING_SECONDS
            if doc is not None and not stale:
                if doc["fingerprint"] != fp:
                    raise InvalidInput(
                        "Idempotency-Key was already used with a different request", code="idempotency_key_reused"
                    )
                if doc["state"] == "pending":
                    raise StillInProgress(
                        "a request with this Idempotency-Key is still in progress", RETRY_AFTER_SECONDS
                    )
                return doc
            pending = {"fingerprint": fp, "state": "pending", "created_at": now}
            tx.set(IDEMPOTENCY, doc_id, {**pending, TTL_FIELD: now + IDEMPOTENCY_LIFETIME_SECONDS})
            return None

        return self._store.transaction(run)
