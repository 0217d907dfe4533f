"""JobQueue on SQLite with Pub/Sub pull semantics.

A pulled message becomes invisible for the ack deadline under a fresh ack id; ack deletes it, nack
(optionally delayed) or an expired deadline makes it visible again, and a stale ack id does nothing.
A message delivered `max_delivery_attempts` times without an ack moves to the dead-letter lane on its
next delivery, as a Pub/Sub dead-letter policy forwards it.
"""

from __future__ import annotations

from collections.abc import Sequence

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
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO queue (id, lane, data, visible_at, attempts) VALUES (?, ?, ?, ?, 0)",
                (message_id, lane, data, self._clock.now()),
            )
        return message_id

    def _pull_once(self, lane: str, max_messages: int) -> list[Delivery]:
        now = self._clock.now()
        out: list[Delivery] = []
        with self._db.write() as conn:
            rows = conn.execute(
                "SELECT id, data, attempts FROM queue WHERE lane = ? AND visible_at <= ? ORDER BY visible_at LIMIT ?",
                (lane, now, max_messages),
            ).fetchall()
            for message_id, data, attempts in rows:
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
                out.append(Delivery(ack_id=ack_id, data=bytes(data), attempt=attempts + 1, message_id=message_id))
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
