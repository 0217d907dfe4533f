"""VectorIndex on SQLite with an exact in-memory scan (the embedded default of the semantic tier).

Rows live in their own SQLite file (one row per prompt key: space, key, text, float32 vector). A query
scans the whole space exactly with one numpy matrix-vector product; each process keeps the space's
matrix in memory and brings it up to date with the rows added since its last read (rowid > high-water
mark, served by the (space) index), so keys written by another process are seen on the next query.
Measured by `python -m infra.bench semantic --latency` (exact scan: no recall loss, and p99 within
budget at 100k keys in one space, so sqlite-vec's extra native dependency buys nothing here).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from shared.ports import Neighbour

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (space TEXT NOT NULL, pk TEXT NOT NULL, text TEXT NOT NULL, vec BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS vectors_space_pk ON vectors (space, pk);
"""


@dataclass
class _Space:
    dim: int
    seen_rowid: int = 0
    size: int = 0
    matrix: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    row_of: dict[str, int] = field(default_factory=dict)

    def put(self, key: str, text: str, vec: npt.NDArray[np.float32]) -> None:
        if key in self.row_of:
            row = self.row_of[key]
            self.texts[row] = text
        else:
            if self.size == self.matrix.shape[0]:
                grown = np.zeros((max(64, self.size * 2), self.dim), dtype=np.float32)
                if self.size:
                    grown[: self.size] = self.matrix[: self.size]
                self.matrix = grown
            row = self.size
            self.size += 1
            self.row_of[key] = row
            self.keys.append(key)
            self.texts.append(text)
        self.matrix[row] = vec


class SqliteVectorIndex:
    def __init__(self, path: Path, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._spaces: dict[str, _Space] = {}

    def add(self, space: str, key: str, text: str, vector: Sequence[float]) -> None:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        with self._lock:
            self._db.execute(
                "INSERT INTO vectors (space, pk, text, vec) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (space, pk) DO UPDATE SET text = excluded.text, vec = excluded.vec",
                (space, key, text, blob),
            )

    def add_many(self, rows: Sequence[tuple[str, str, str, Sequence[float]]]) -> None:
        """Bulk load (migration, benchmarks): one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO vectors (space, pk, text, vec) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (space, pk) DO UPDATE SET text = excluded.text, vec = excluded.vec",
                [(s, k, t, np.asarray(v, dtype=np.float32).tobytes()) for s, k, t, v in rows],
            )
            self._db.execute("COMMIT")

    def has(self, space: str, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM vectors WHERE space = ? AND pk = ?", (space, key)).fetchone()
        return row is not None

    def _refresh(self, space: str) -> _Space:
        state = self._spaces.setdefault(space, _Space(self.dim))
        rows = self._db.execute(
            "SELECT rowid, pk, text, vec FROM vectors INDEXED BY vectors_space_pk WHERE space = ? AND rowid > ?",
            (space, state.seen_rowid),
        ).fetchall()
        for rowid, key, text, blob in rows:
            state.put(key, text, np.frombuffer(blob, dtype=np.float32))
            state.seen_rowid = max(state.seen_rowid, rowid)
        return state

    def nearest(self, space: str, vector: Sequence[float], limit: int) -> list[Neighbour]:
        query = np.asarray(vector, dtype=np.float32)
        with self._lock:
            state = self._refresh(space)
            if state.size == 0:
                return []
            scores = state.matrix[: state.size] @ query
            k = min(limit, state.size)
            top = np.argpartition(-scores, k - 1)[:k]
            order = top[np.argsort(-scores[top])]
            return [Neighbour(state.keys[i], state.texts[i], float(scores[i])) for i in order]
