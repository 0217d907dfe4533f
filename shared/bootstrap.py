"""Builds the backend adapters from settings, lazily (nothing connects at import time).

`build_backend` is called by each deployable's composition root on first use; the gcp adapters are
imported only when the gcp backend is chosen, so the local default needs no Google client at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.ports import BlobStore, Clock, DocumentStore, JobQueue, WorkerLauncher


class InProcessLauncher:
    """Local backend: workers run inside `soul dev` / `soul worker` and poll, so launching is a no-op."""

    def __init__(self) -> None:
        self.launches: list[str] = []

    def launch(self, lane: str) -> None:
        self.launches.append(lane)


@dataclass
class Backend:
    settings: Settings
    store: DocumentStore
    queue: JobQueue
    blobs: BlobStore
    launcher: WorkerLauncher
    clock: Clock


def build_backend(settings: Settings, clock: Clock | None = None) -> Backend:
    from shared.clock import SystemClock

    clock = clock or SystemClock()
    if settings.soul_backend == "gcp":
        from shared.adapters.gcp_backend import build as build_gcp

        store, queue, blobs, launcher = build_gcp(settings, clock)
        return Backend(settings, store, queue, blobs, launcher, clock)
    from shared.adapters.fs_blobs import DirectoryBlobStore
    from shared.adapters.sqlite_db import SqliteDb
    from shared.adapters.sqlite_queue import SqliteJobQueue
    from shared.adapters.sqlite_store import SqliteDocumentStore

    db = SqliteDb(settings.sqlite_path)
    return Backend(
        settings=settings,
        store=SqliteDocumentStore(db),
        queue=SqliteJobQueue(
            db,
            clock,
            ack_deadline=settings.soul_ack_deadline_seconds,
            max_delivery_attempts=settings.soul_max_delivery_attempts,
        ),
        blobs=DirectoryBlobStore(settings.blob_dir, clock, settings.soul_signing_key.get_secret_value().encode()),
        launcher=InProcessLauncher(),
        clock=clock,
    )
