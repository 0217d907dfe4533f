"""Fixtures for the contract suite: every test runs once per adapter set, `local` and `gcp`.

`local` is the embedded backend (SQLite file in tmp_path, directory blobs). `gcp` runs the google
adapters against the official Firestore and Pub/Sub emulators and fake-gcs-server, started once per
session (or reused when FIRESTORE_/PUBSUB_/STORAGE_EMULATOR_HOST are already set, as `.ci/run` does).
If Java, the JARs or the fake-gcs binary are missing, the gcp tests fail with the reason, or skip
when SOUL_SKIP_EMULATORS=1. Each gcp test gets an empty Firestore, fresh topic/subscriptions and a
fresh bucket, so tests never see each other's data.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from infra import emulators
from shared.adapters.fs_blobs import DirectoryBlobStore
from shared.adapters.sqlite_db import SqliteDb
from shared.adapters.sqlite_queue import SqliteJobQueue
from shared.adapters.sqlite_store import SqliteDocumentStore
from shared.clock import SystemClock
from shared.config import Settings

MAX_ATTEMPTS = 5  # Pub/Sub's minimum for a dead-letter policy
ACK_DEADLINE = 10  # Pub/Sub's minimum ack deadline


@dataclass
class Adapters:
    """One adapter set plus what a test needs to reach around the ports."""

    name: str
    settings: Settings
    store: Any
    queue: Any
    blobs: Any
    fetch: Callable[[str, str], bytes]  # (signed url, object name) -> the bytes a client would get


def _local(tmp_path: Path) -> Adapters:
    clock = SystemClock()
    db = SqliteDb(tmp_path / "soul.sqlite3")
    queue = SqliteJobQueue(db, clock, ack_deadline=ACK_DEADLINE, max_delivery_attempts=MAX_ATTEMPTS)
    blobs = DirectoryBlobStore(tmp_path / "blobs", clock, b"contract-key")

    def fetch(url: str, name: str) -> bytes:
        query = parse_qs(urlparse(url).query)
        assert blobs.verify(name, int(query["expires"][0]), query["sig"][0]), "local signature rejected"
        return blobs.get(name)

    settings = Settings(
        soul_data_dir=tmp_path, soul_max_delivery_attempts=MAX_ATTEMPTS, soul_ack_deadline_seconds=ACK_DEADLINE
    )
    return Adapters("local", settings, SqliteDocumentStore(db), queue, blobs, fetch)


def _gcp(env: dict[str, str]) -> Adapters:
    from shared.adapters.gcp_firestore import FirestoreDocumentStore
    from shared.adapters.gcp_pubsub import PubSubJobQueue, ensure_topology
    from shared.adapters.gcp_storage import GcsBlobStore

    project = env.get("GOOGLE_CLOUD_PROJECT", emulators.DEFAULT_PROJECT)
    emulators.reset_firestore(env["FIRESTORE_EMULATOR_HOST"], project)
    run = f"c{uuid.uuid4().hex[:10]}"
    settings = Settings(
        google_cloud_project=project,
        pubsub_topic=f"{run}-jobs",
        pubsub_subscription_prefix=f"{run}-jobs",
        pubsub_dead_letter_topic=f"{run}-dead",
        gcs_bucket_name=f"{run}-artifacts",
        soul_max_delivery_attempts=MAX_ATTEMPTS,
        soul_ack_deadline_seconds=ACK_DEADLINE,
    )
    ensure_topology(settings)
    blobs = GcsBlobStore(project, settings.gcs_bucket_name)
    blobs.ensure_bucket()

    def fetch(url: str, name: str) -> bytes:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body: bytes = resp.read()
            return body

    return Adapters("gcp", settings, FirestoreDocumentStore(project), PubSubJobQueue(settings), blobs, fetch)


@pytest.fixture(params=["local", "gcp"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Adapters:
    if request.param == "local":
        return _local(tmp_path)
    return _gcp(request.getfixturevalue("gcp_env"))
