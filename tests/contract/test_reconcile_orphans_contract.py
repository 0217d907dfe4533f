"""The reconcile pass's orphan sweep is bounded (issue 24): it used to list the whole bucket and read
Firestore once per object every two minutes. Now each pass looks at the next `orphan_batch` objects
after a cursor kept in Firestore (one batched variant read), and wraps to the start at the end, so
every object is still looked at within ceil(objects / batch) + 1 passes. On SQLite + the directory
store and on the Firestore emulator + fake-gcs-server."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_jobs.reconcile import Reconciler
from shared.bootstrap import Backend
from shared.records import JOBS, RECONCILE, VARIANTS
from tests.contract.test_reconcile_contract import _backend

pytestmark = pytest.mark.contract


def _object(backend: Backend, variant_id: str, job_status: str | None, recorded: bool = False) -> str:
    name = f"variants/{variant_id}/image.png"
    backend.blobs.put(name, b".", "image/png")
    if job_status is not None:
        backend.store.set(
            JOBS, f"job-{variant_id}", {"job_id": f"job-{variant_id}", "variant_id": variant_id, "status": job_status}
        )
    if recorded:
        backend.store.set(VARIANTS, variant_id, {"variant_id": variant_id})
    return name


def test_orphans_are_swept_a_bounded_page_per_pass_and_the_cursor_wraps(backend: Any) -> None:
    backend = _backend(backend)
    for i in range(1, 6):
        _object(backend, f"o{i}", "failed")  # its job ended without a variant: orphan
    running = _object(backend, "q1", "running")  # its job may still record it
    kept = _object(backend, "r1", "succeeded", recorded=True)
    reconciler = Reconciler(backend, grace=0, orphan_batch=3)
    passes = []
    for _ in range(4):
        passes.append((reconciler.delete_orphans(), (backend.store.get(RECONCILE, "orphans") or {})["after"]))
    assert passes == [
        (3, "variants/o3/image.png"),
        (2, "variants/q1/image.png"),
        (0, ""),  # the end of the bucket: the next pass starts over
        (0, ""),
    ]
    assert backend.blobs.list("variants/") == [running, kept]
