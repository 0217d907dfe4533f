"""JobQueue on SQLite with Pub/Sub pull semantics.

A pulled message becomes invisible for the ack deadline under a fresh ack id; ack deletes it, nack
(optionally delayed) or an expired deadline makes it visible again, and a stale ack id does nothing.
A message delivered `max_delivery_attempts` times without an ack moves to the dead-letter lane on its
next delivery, as a Pub/Sub dead-letter policy forwards it. Each message keeps its attributes as
Pub/Sub does: its lane and the publisher's trace context (`traceparent`, shared/tracing.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from shared import tracing
from shared.adapters.sqlite_db import SqliteDb
from shared.ids import new_id
from shared.ports import Clock, Delivery

DEAD_LETTER_LANE = "dead"


class SqliteJobQueue:
    def __init__(self, db: SqliteDb, clock: Clock, *, ack_deadline: float, max_delivery_attempts: int) -> None:
        self._db = db
        self._clock = clock
        self._deadline = ack_deadline
        self._max_attempts = max_delivery_attempts

    def publish(self, lane: str, data: bytes) -> str:
        message_id = new_id()
        attributes = json.dumps({**tracing.inject(), "lane": lane})
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO queue (id, lane, data, visible_at, attempts, published_at, attributes)"
                " VALUES (?, ?, ?, ?, 0, ?, ?)",
                (message_id, lane, data, self._clock.now(), self._clock.now(), attributes),
            )
        return message_id

    def _pull_once(self, lane: str, max_messages: int) -> list[Delivery]:
        now = self._clock.now()
        out: list[Delivery] = []
        with self._db.write() as conn:
            rows = conn.execute(
                "SELECT id, data, attempts, attributes FROM queue WHERE lane = ? AND visible_at <= ?"
                " ORDER BY visible_at LIMIT ?",
                (lane, now, max_messages),
            ).fetchall()
            for message_id, data, attempts, attributes in rows:
                if lane != DEAD_LETTER_LANE and attempts >= self._max_attempts:
                    conn.execute(
                        "UPDATE queue SET lane = ?, attempts = 0, ack_id = NULL, visible_at = ? WHERE id = ?",
                        (DEAD_LETTER_LANE, now, message_id),
                    )
                    continue
                ack_id = new_id()
                conn.execute(
                    "UPDATE queue SET attempts = attempts + 1, ack_id = ?, visible_at = ? WHERE id = ?",
                    (ack_id, now + self._deadline, message_id),
                )
                attrs = json.loads(attributes) if attributes else {}
                out.append(Delivery(ack_id, bytes(data), attempts + 1, message_id, attrs))
        return out

    def pull(self, lane: str, max_messages: int, timeout: float) -> list[Delivery]:
        deadline = self._clock.now() + timeout
        while True:
            got = self._pull_once(lane, max_messages)
            if got or self._clock.now() >= deadline:
                return got
            self._clock.sleep(min(0.05, max(0.0, deadline - self._clock.now())))

    def ack(self, lane: str, ack_ids: Sequence[str]) -> None:
        with self._db.write() as conn:
            conn.executemany("DELETE FROM queue WHERE ack_id = ?", [(a,) for a in ack_ids])

    def nack(self, lane: str, ack_id: str, delay_seconds: float = 0.0) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE queue SET ack_id = NULL, visible_at = ? WHERE ack_id = ?",
                (self._clock.now() + delay_seconds, ack_id),
            )

    def extend(self, lane: str, ack_id: str, seconds: float) -> None:
        with self._db.write() as conn:
            conn.execute("UPDATE queue SET visible_at = ? WHERE ack_id = ?", (self._clock.now() + seconds, ack_id))

    def depth(self, lane: str) -> int:
        row = self._db.conn().execute("SELECT COUNT(*) FROM queue WHERE lane = ?", (lane,)).fetchone()
        return int(row[0])

    def backlog(self, lane: str) -> tuple[int, float | None]:
        """Messages not yet acked on `lane` and the age of the oldest (Pub/Sub's num_undelivered_messages and
        oldest_unacked_message_age); None when the lane is empty."""
        sql = "SELECT COUNT(*), MIN(COALESCE(published_at, visible_at)) FROM queue WHERE lane = ?"
        count, oldest = self._db.conn().execute(sql, (lane,)).fetchone()
        return int(count), None if oldest is None else max(0.0, self._clock.now() - float(oldest))
