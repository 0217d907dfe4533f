"""Signed artifact URLs, reused while they have at least half their lifetime left.

Signing costs an RSA signature (or, on Cloud Run, an IAM signBlob call) per URL; a cache hit would
otherwise pay it for every artifact on every request. A URL is handed out only while at least half
of its TTL remains, so a client always gets at least TTL/2 to fetch it.
"""

from __future__ import annotations

import threading

from shared.ports import BlobStore, Clock

MAX_ENTRIES = 50_000


class SignedUrls:
    def __init__(self, blobs: BlobStore, clock: Clock, ttl_seconds: int) -> None:
        self._blobs = blobs
        self._clock = clock
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def url(self, name: str) -> str:
        now = self._clock.now()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and now - cached[1] < self._ttl / 2:
            return cached[0]
        url = self._blobs.signed_url(name, self._ttl)
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[name] = (url, now)
        return url
