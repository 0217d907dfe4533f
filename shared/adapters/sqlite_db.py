"""A SQLite database file shared by the local document store and job queue.

WAL mode so readers never block the writer; one connection per thread; `BEGIN IMMEDIATE` so a
transaction holds the write lock from its first read, which makes SQLite transactions serializable
across threads and processes (the worker may run in another process).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.errors import NotConfigured

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_pk ON docs (collection, json_extract(data, '$.pk'));
CREATE INDEX IF NOT EXISTS docs_status ON docs (collection, json_extract(data, '$.status'));
CREATE INDEX IF NOT EXISTS docs_job_id ON docs (collection, json_extract(data, '$.job_id'));
CREATE INDEX IF NOT EXISTS docs_user_id ON docs (collection, json_extract(data, '$.user_id'));
CREATE TABLE IF NOT EXISTS queue (
  id TEXT PRIMARY KEY,
  lane TEXT NOT NULL,
  data BLOB NOT NULL,
  visible_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  ack_id TEXT
);
CREATE INDEX IF NOT EXISTS queue_lane ON queue (lane, visible_at);
CREATE INDEX IF NOT EXISTS queue_ack ON queue (ack_id);
"""


def _add_published_at(conn: sqlite3.Connection) -> None:
    """Queues made before messages carried their publish time (the oldest-message age, shared/metrics.py)
    gain the column; their older rows read as published when last made visible."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
    if "published_at" not in columns:
        try:
            conn.execute("ALTER TABLE queue ADD COLUMN published_at REAL")
        except sqlite3.OperationalError as exc:  # another process added it between the two statements
            if "duplicate column" not in str(exc):
                raise


def _add_attributes(conn: sqlite3.Connection) -> None:
    """Queues made before messages carried attributes (the trace context, shared/tracing.py) gain the
    column; their older rows have none (a consumer starts a new trace for them)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
    if "attributes" not in columns:
        conn.execute("ALTER TABLE queue ADD COLUMN attributes TEXT")


class SqliteDb:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._init_lock:
                if not self._ready:
                    self._boot()
                    self._ready = True
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _boot(self) -> None:
        """Create the schema; a corrupt, read-only or non-SQLite file is one clear NotConfigured."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            boot = self._connect()
            try:
                boot.executescript(_SCHEMA)
                _add_attributes(boot)
                _add_published_at(boot)
            finally:
                boot.close()
        except (sqlite3.Error, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise NotConfigured(
                f"the database {self.path.name} in SOUL_DATA_DIR cannot be used ({reason}): "
                "restore it from a backup, fix its permissions, or point SOUL_DATA_DIR at a fresh directory"
            ) from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success, rolled back on error."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
