"""VectorIndex on SQLite with an in-memory scan (the embedded default of the semantic tier).

Rows live in their own SQLite file (one row per prompt key: space, key, text, float32 vector). Each
process keeps a space's matrix in memory and brings it up to date with the rows added since its last
read (rowid > high-water mark: a range of the (space) index, ordered by rowid within a space), so keys
written by another process are seen on the next query. Below `exact_below` rows a space is scanned
exactly with one matrix-vector product; above, a Matryoshka prefix of each vector is scanned first and
a shortlist reranked exactly. `python -m infra.bench semantic --latency` measures embed + search at
10k and 100k keys and the shortlist's recall against the exact scan.
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
CREATE INDEX IF NOT EXISTS vectors_space ON vectors (space);
"""


@dataclass
class _Space:
    dim: int
    coarse_dim: int
    seen_rowid: int = 0
    size: int = 0
    matrix: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    coarse: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    row_of: dict[str, int] = field(default_factory=dict)

    def put(self, key: str, text: str, vec: npt.NDArray[np.float32]) -> None:
        if key in self.row_of:
            row = self.row_of[key]
            self.texts[row] = text
        else:
            if self.size == self.matrix.shape[0]:
                self.matrix = _grown(self.matrix, self.size, self.dim)
                self.coarse = _grown(self.coarse, self.size, self.coarse_dim)
            row = self.size
            self.size += 1
            self.row_of[key] = row
            self.keys.append(key)
            self.texts.append(text)
        self.matrix[row] = vec
        self.coarse[row] = _unit(vec[: self.coarse_dim])


def _grown(matrix: npt.NDArray[np.float32], size: int, dim: int) -> npt.NDArray[np.float32]:
    grown = np.zeros((max(64, size * 2), dim), dtype=np.float32)
    if size:
        grown[:size] = matrix[:size]
    return grown


def _unit(vec: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)


class SqliteVectorIndex:
    def __init__(
        self, path: Path, dim: int, *, coarse_dim: int = 64, exact_below: int = 20_000, shortlist: int = 1024
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        # Large spaces: scan the first `coarse_dim` dimensions (a Matryoshka prefix: WordLlama and Vertex
        # embeddings are trained so a prefix is itself an embedding), then rerank `shortlist` rows exactly.
        self.coarse_dim = min(coarse_dim, dim)
        self.exact_below = exact_below
        self.shortlist = shortlist
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
        state = self._spaces.setdefault(space, _Space(self.dim, self.coarse_dim))
        rows = self._db.execute(
            "SELECT rowid, pk, text, vec FROM vectors INDEXED BY vectors_space WHERE space = ? AND rowid > ?",
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
            if state.size < self.exact_below or self.coarse_dim == self.dim:
                scores = state.matrix[: state.size] @ query
                return [Neighbour(state.keys[i], state.texts[i], float(scores[i])) for i in _top(scores, limit)]
            rough = state.coarse[: state.size] @ _unit(query[: self.coarse_dim])
            rows = _top(rough, self.shortlist)
            scores = state.matrix[rows] @ query
            best = _top(scores, limit)
            return [Neighbour(state.keys[rows[i]], state.texts[rows[i]], float(scores[i])) for i in best]


def _top(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Indices of the k highest scores, highest first."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]
