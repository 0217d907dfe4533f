"""Composition of the gcp adapter set: Firestore, Pub/Sub, Cloud Storage and Cloud Run.

Called by `shared.bootstrap.build_backend` when `SOUL_BACKEND=gcp`. Building is cheap and offline:
every adapter creates its Google client on first use. The clients honour the emulator variables
(FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST) by themselves. With
SOUL_ACCESS_LOG set (the rehearsal), each adapter records the Google APIs it calls
(shared/adapters/access_log.py).
"""

from __future__ import annotations

from typing import cast

from shared.adapters import access_log
from shared.adapters.gcp_firestore import FirestoreDocumentStore
from shared.adapters.gcp_pubsub import PubSubJobQueue
from shared.adapters.gcp_run import CloudRunLauncher
from shared.adapters.gcp_storage import GcsBlobStore
from shared.config import Settings
from shared.ports import BlobStore, Clock, DocumentStore, JobQueue, WorkerLauncher


def build(settings: Settings, clock: Clock) -> tuple[DocumentStore, JobQueue, BlobStore, WorkerLauncher]:
    store: DocumentStore = FirestoreDocumentStore(settings.google_cloud_project, settings.firestore_database)
    queue: JobQueue = PubSubJobQueue(settings)
    blobs: BlobStore = GcsBlobStore(settings.google_cloud_project, settings.gcs_bucket_name, settings.soul_signer_email)
    if settings.soul_access_log is None:
        return store, queue, blobs, CloudRunLauncher(settings, store, clock)
    log = access_log.AccessLog(settings.soul_access_log)
    s = settings
    store = cast(DocumentStore, access_log.Recording(store, log, access_log.firestore(s.firestore_database)))
    subscription = cast(PubSubJobQueue, queue)._subscription
    queue = cast(JobQueue, access_log.Recording(queue, log, access_log.pubsub(s.pubsub_topic, subscription)))
    blobs = cast(
        BlobStore, access_log.Recording(blobs, log, access_log.storage(s.gcs_bucket_name, s.soul_signer_email))
    )
    launcher = CloudRunLauncher(settings, store, clock)
    recorded = access_log.Recording(launcher, log, access_log.cloud_run(launcher.job_name))
    return store, queue, blobs, cast(WorkerLauncher, recorded)
