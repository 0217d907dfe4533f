"""The job state machine: queued → running → succeeded | failed | canceled, forward only.

A running job whose lease expired may be claimed again (running → running with a new lease owner);
nothing ever leaves a terminal state.
"""

from __future__ import annotations

from shared.domain.models import Job, JobStatus
from shared.errors import Conflict

_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.RUNNING: frozenset({JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    return new in _ALLOWED[current]


def transition(job: Job, new: JobStatus, now: float) -> Job:
    """A copy of `job` in state `new`; Conflict if the move is not forward."""
    if not can_transition(job.status, new):
        raise Conflict(f"job {job.job_id} is {job.status.value}; cannot become {new.value}")
    changes: dict[str, object] = {"status": new, "updated_at": now}
    if new.terminal:
        changes.update(finished_at=now, lease_owner=None, lease_expires_at=0.0)
    if new is JobStatus.SUCCEEDED:
        changes["error"] = None  # an earlier attempt's transient error is history, not the result
    return job.model_copy(update=changes)


def claimable(job: Job, now: float) -> bool:
    """Queued, or running under a lease that has expired (its worker died)."""
    if job.cancel_requested:
        return False
    if job.status is JobStatus.QUEUED:
        return True
    return job.status is JobStatus.RUNNING and job.lease_expires_at <= now


def backoff_seconds(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Capped exponential backoff; `jitter` in [0, 1) spreads retries (full jitter on the top half)."""
    raw = float(min(cap, base * (2.0 ** max(0, attempt - 1))))
    return raw / 2 + (raw / 2) * jitter


def captures_requests(job: Job, now: float, *, lease_seconds: float, max_attempts: int) -> bool:
    """Whether a new request for the job's key attaches to it (single-flight) or replaces it.

    Only a live job captures requests: not finished or being canceled, not out of attempts with its
    last lease gone, and not silent for longer than lease x attempts (a lost message, a dead worker:
    every delivery would have ended by then). A job that does not capture is left alone (reconcile
    republishes or fails it); the key's next request starts a new one, so no key wedges.
    """
    if job.status.terminal or job.cancel_requested:
        return False
    if job.attempts >= max_attempts and job.lease_expires_at <= now:
        return False
    last_sign_of_life = max(job.updated_at, job.lease_expires_at - lease_seconds)
    return now - last_sign_of_life < lease_seconds * max_attempts
