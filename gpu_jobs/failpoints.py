"""Crash points for recovery tests: with `SOUL_FAILPOINTS=after_claim,after_upload` the worker kills
itself with SIGKILL when it reaches those points, the way a preempted Cloud Run task dies.

Points: `after_claim` (job claimed, nothing generated), `mid_generation` (half the steps reported),
`after_upload` (artifacts stored, no variant record), `after_record` (job succeeded, message not
acked). Empty in production; reading the setting costs one attribute lookup.
"""

from __future__ import annotations

import os
import signal

from shared.config import get_settings

POINTS = frozenset({"after_claim", "mid_generation", "after_upload", "after_record"})


def hit(point: str) -> None:
    active = get_settings().soul_failpoints
    if active and point in active.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
