"""Identifiers: ULIDs for records, fixed-length hashes for content-addressed keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ulid import ULID


def new_id() -> str:
    """A ULID: sortable by time, random in its tail, never a monotonically increasing counter."""
    return str(ULID())


def digest(*parts: Any, length: int = 32) -> str:
    """A fixed-length hex digest of the canonical JSON of `parts`."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def seed_from(*parts: Any) -> int:
    """A deterministic 31-bit seed (DashScope accepts 0..2147483647; torch any int64)."""
    return int(digest(*parts, length=16), 16) % 2_147_483_647
