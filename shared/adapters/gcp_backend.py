"""Composition of the gcp adapter set: Firestore, Pub/Sub, Cloud Storage and Cloud Run.

Called by `shared.bootstrap.build_backend` when `SOUL_BACKEND=gcp`. Building is cheap and offline:
every adapter creates its Google client on first use. The clients honour the emulator variables
(FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST) by themselves.
"""

from __future__ import annotations

from shared.adapters.gcp_firestore import FirestoreDocumentStore
from shared.adapters.gcp_pubsub import PubSubJobQueue
from shared.adapters.gcp_run import CloudRunLauncher
from shared.adapters.gcp_storage import GcsBlobStore
from shared.config import Settings
from shared.ports import BlobStore, Clock, DocumentStore, JobQueue, WorkerLauncher


def build(settings: Settings, clock: Clock) -> tuple[DocumentStore, JobQueue, BlobStore, WorkerLauncher]:
    store = FirestoreDocumentStore(settings.google_cloud_project, settings.firestore_database)
    queue = PubSubJobQueue(settings)
    blobs = GcsBlobStore(settings.google_cloud_project, settings.gcs_bucket_name, settings.soul_signer_email)
    launcher = CloudRunLauncher(settings, store, clock)
    return store, queue, blobs, launcher
