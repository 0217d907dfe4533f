"""Queued work that no running execution will take gets a launch (issue 24): a job published while its
lane's worker was exiting on idle used to wait for the next job on that lane, because its dispatch
event had been spent. Each reconcile pass asks the launcher for every lane with queued jobs; the
launcher (tests/contract/test_launcher_contract.py) starts one only when the running executions do not
cover the backlog. On SQLite and on the Firestore emulator."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_jobs.reconcile import Reconciler
from shared.bootstrap import Backend
from shared.clock import SystemClock
from shared.errors import NotConfigured
from tests.contract.test_singleflight_contract import request

pytestmark = pytest.mark.contract


class Launcher:
    """Records the lanes it was asked for; refuses them all when `refuse` is set (no role, no job)."""

    def __init__(self, refuse: bool = False) -> None:
        self.asked: list[str] = []
        self.refuse = refuse

    def launch(self, lane: str) -> None:
        self.asked.append(lane)
        if self.refuse:
            raise NotConfigured(f"run_job for {lane} refused: permission denied")


def _reconciler(adapters: Any, launcher: Launcher) -> Reconciler:
    backend = Backend(adapters.settings, adapters.store, adapters.queue, adapters.blobs, launcher, SystemClock())
    return Reconciler(backend, grace=1e9)


def test_a_lane_with_queued_jobs_is_asked_for_and_an_idle_lane_is_not(backend: Any) -> None:
    launcher = Launcher()
    reconciler = _reconciler(backend, launcher)
    assert reconciler.relaunch() == [] and launcher.asked == []
    assert request(backend.store, "a").job is not None  # queued on the image lane
    assert reconciler.run_once()["relaunch_asked"] == 1
    assert launcher.asked == ["image"]


def test_a_refused_launch_does_not_stop_the_pass(backend: Any) -> None:
    launcher = Launcher(refuse=True)
    assert request(backend.store, "a").job is not None
    counts = _reconciler(backend, launcher).run_once()
    assert counts["relaunch_asked"] == 0 and launcher.asked == ["image"]
    assert "dead_lettered" in counts and "orphans_deleted" in counts  # the rest of the pass ran
