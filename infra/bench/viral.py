"""`soul bench viral [--backend local|emulators]`: a viral prompt against the records
(docs/ARCHITECTURE.md, Records; Benchmarks).

Four measurements, printed with their targets; generation is simulated (claim + complete through
`shared.lifecycle`, no GPU) so what is measured is the data model under a crowd:
1. N concurrent first requests for one new key from N users: jobs made, errors, p50/p99 to the 202,
   then every user reading their task gets the variant.
2. W waiters attached to one in-flight job in batches: completion time, every waiter's result, the
   largest document written.
3. The publish killed after the job is created: seconds until a new request for the key is served,
   with `soul reconcile` every lease/2 (as Cloud Scheduler runs it) and a worker pulling.
4. F distinct users hitting one hot key at 4-way concurrency: seen-updates lost, errors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from functions.service import GenerationService
from functions.tasks import TaskService
from gpu_jobs.reconcile import Reconciler
from infra import seed
from infra.bench import simulated
from shared import lifecycle
from shared.bootstrap import Backend, build_backend
from shared.config import Settings
from shared.domain.models import Job, JobMessage
from shared.errors import Unavailable
from shared.records import INFLIGHT, JOBS, WAITERS, seen_collection

SOUL = "nova"


def _backend(kind: str, lease: int, data: Path) -> Backend:
    common: dict[str, Any] = {"soul_lease_seconds": lease, "log_level": "ERROR", "soul_data_dir": data}
    if kind == "local":
        return build_backend(Settings(**common))
    from infra.emulators import ensure_running, reset_firestore
    from shared.adapters.gcp_pubsub import ensure_topology

    env = ensure_running().env()
    os.environ.update(env)
    run = f"viral{uuid.uuid4().hex[:8]}"
    settings = Settings(
        soul_backend="gcp",
        pubsub_topic=f"{run}-jobs",
        pubsub_subscription_prefix=f"{run}-jobs",
        pubsub_dead_letter_topic=f"{run}-dead",
        gcs_bucket_name=f"{run}-artifacts",
        **common,
    )
    reset_firestore(env["FIRESTORE_EMULATOR_HOST"], settings.google_cloud_project)
    ensure_topology(settings)
    backend = build_backend(settings)
    getattr(backend.blobs, "ensure_bucket", lambda: None)()
    return backend


def _timed(fn: Callable[[], Any]) -> tuple[float, Any, bool]:
    started = time.perf_counter()
    try:
        result = fn()
        return time.perf_counter() - started, result, True
    except Exception as exc:  # noqa: BLE001 - every failure is an error answer (a 5xx) here
        return time.perf_counter() - started, exc, False


def _crowd(n: int, workers: int, fn: Callable[[int], Any]) -> list[tuple[float, Any, bool]]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda i: _timed(lambda: fn(i)), range(n)))


def _generate(backend: Backend, job: Job) -> None:
    """The worker's part, simulated: claim, then the variant record and the job's completion."""
    now = backend.clock.now()
    claimed = lifecycle.claim(backend.store, job.job_id, worker_id="bench", now=now, lease_seconds=60)
    if claimed is None:
        return
    lifecycle.complete(backend.store, job.job_id, simulated.variant_for(claimed, now), now=now)


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def first_requests(backend: Backend, users: int) -> dict[str, Any]:
    service, tasks = GenerationService(backend), TaskService(backend)
    cue = f"viral penguin {uuid.uuid4().hex[:6]}"
    results = _crowd(users, users, lambda i: service.image(f"crowd{i}", SOUL, cue))
    ok = [r for _, r, good in results if good]
    times = [t for t, _, good in results if good]
    job_ids = {o.served.job.job_id for o in ok if o.served.job is not None}
    for job_id in job_ids:
        _generate(backend, tasks.get(job_id, None))
    got = sum(
        1
        for i, o in enumerate(ok)
        if o.served.job and tasks.get(o.served.job.job_id, f"crowd{i}").status.value == "succeeded"
    )
    pk = ok[0].pk if ok else ""
    seen = sum(1 for i in range(users) if backend.store.get(seen_collection(f"crowd{i}"), pk))
    peer = bare_first_requests(backend, users)
    return {
        "requests": users, "jobs": len(job_ids), "errors": users - len(ok),
        "bare_peer": peer, "p99_ratio_to_bare": round(_pct(times, 0.99) / peer["p99_s"], 2) if peer["p99_s"] else None,
        "error_kinds": dict(Counter(type(r).__name__ for _, r, good in results if not good)),
        "p50_s": round(statistics.median(times), 3) if times else None, "p99_s": round(_pct(times, 0.99), 3),
        "users_with_variant_seen": seen, "tasks_read": got,
        "target": "jobs == 1, errors == 0, p99 <= 1.5 s, every user gets the variant",
    }  # fmt: skip


def bare_first_requests(backend: Backend, users: int) -> dict[str, Any]:
    """The peer, in the same run: the fewest store operations a single-flight miss can make (the key's
    variants and the user's seen document read together, the key's marker read, then create-if-absent
    or one write of the user's own document), with no Soul code around them."""
    store, pk = backend.store, f"bare-{uuid.uuid4().hex[:8]}"

    def one(i: int) -> None:
        store.query("variants", [("pk", "==", pk)], limit=16)
        store.get(f"users/bare{i}/seen", pk)
        if store.get("inflight", pk) is None and store.create("inflight", pk, {"job_id": f"j{i}"}):
            return
        store.set("waiters", f"{pk}_{i}", {"user_id": f"bare{i}", "pk": pk})

    results = _crowd(users, users, one)
    times = [t for t, _, good in results if good]
    return {"p50_s": round(statistics.median(times), 3), "p99_s": round(_pct(times, 0.99), 3)}


def _largest(backend: Backend, job: Job) -> int:
    store = backend.store
    docs = [store.get(JOBS, job.job_id), store.get(INFLIGHT, job.pk)]
    docs += store.query(WAITERS, [("job_id", "==", job.job_id)], limit=200)
    return max(len(json.dumps(d)) for d in docs if d is not None)


def many_waiters(backend: Backend, waiters: int, batch: int = 100) -> dict[str, Any]:
    service, tasks = GenerationService(backend), TaskService(backend)
    cue = f"viral owl {uuid.uuid4().hex[:6]}"
    job = service.image("creator", SOUL, cue).served.job
    assert job is not None
    errors, largest, task_of = 0, 0, {}
    for start in range(0, waiters, batch):

        def attach(i: int, first: int = start) -> Any:
            return service.image(f"waiter{first + i}", SOUL, cue)

        results = _crowd(batch, 16, attach)
        errors += sum(1 for _, _, good in results if not good)
        task_of.update({start + i: r.served.job.job_id for i, (_, r, good) in enumerate(results) if good})
        largest = max(largest, _largest(backend, job))
    started = time.perf_counter()
    _generate(backend, job)
    complete_s = time.perf_counter() - started
    read = _crowd(waiters, 16, lambda i: tasks.get(task_of.get(i, job.job_id), f"waiter{i}"))
    with_result = sum(1 for _, j, good in read if good and j.status.value == "succeeded")
    read_errors = Counter(type(j).__name__ for _, j, good in read if not good)
    return {
        "waiters": waiters, "attach_errors": errors, "jobs": len(set(task_of.values())),
        "complete_s": round(complete_s, 2),
        "waiters_reading_result": with_result, "read_errors": dict(read_errors),
        "largest_doc_bytes": max(largest, _largest(backend, job)),
        "target": "completes, every waiter reads its result, largest document < 10 KB",
    }  # fmt: skip


class _LosesFirstPublish:
    def __init__(self, inner: Any) -> None:
        self.inner, self.lost = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def publish(self, lane: str, data: bytes) -> str:
        if not self.lost:
            self.lost = True
            raise Unavailable("publish killed by the benchmark")
        return str(self.inner.publish(lane, data))


def lost_publish(backend: Backend, lease: int) -> dict[str, Any]:
    import dataclasses

    short = backend.settings.model_copy(update={"soul_lease_seconds": lease})
    broken = dataclasses.replace(backend, settings=short, queue=_LosesFirstPublish(backend.queue))
    service = GenerationService(broken)
    cue = f"viral fox {uuid.uuid4().hex[:6]}"
    killed_at = time.monotonic()
    first = _timed(lambda: service.image("victim", SOUL, cue))
    stop = threading.Event()
    reconciler = Reconciler(backend, interval=lease / 2, grace=lease / 2)
    reconciler.start(stop)

    def work() -> None:
        while not stop.is_set():
            for d in backend.queue.pull("image", 10, 0.5):
                job_id = JobMessage.model_validate_json(d.data).job_id
                _generate(backend, Job.model_validate(backend.store.get(JOBS, job_id)))
                backend.queue.ack("image", [d.ack_id])

    threading.Thread(target=work, daemon=True).start()
    served_after, i = None, 0
    while time.monotonic() - killed_at < 4 * lease:
        outcome = service.image(f"later{i}", SOUL, cue)
        i += 1
        if outcome.served.variant is not None:
            served_after = time.monotonic() - killed_at
            break
        time.sleep(0.5)
    stop.set()
    return {
        "lease_s": lease, "first_request_failed": not first[2],
        "served_again_after_s": round(served_after, 1) if served_after else None,
        "target": f"<= 2 x lease = {2 * lease} s",
    }  # fmt: skip


def hot_key_fans(backend: Backend, fans: int) -> dict[str, Any]:
    service = GenerationService(backend)
    cue = f"viral cat {uuid.uuid4().hex[:6]}"
    job = service.image("maker", SOUL, cue).served.job
    assert job is not None
    _generate(backend, job)
    results = _crowd(fans, 4, lambda i: service.image(f"fan{i}", SOUL, cue))
    hits = [r for _, r, good in results if good and r.served.variant is not None]
    lost = sum(
        1 for i in range(fans)
        if job.variant_id not in (backend.store.get(seen_collection(f"fan{i}"), job.pk) or {}).get("variant_ids", [])
    )  # fmt: skip
    times = [t for t, _, good in results if good]
    return {
        "users": fans, "hits": len(hits), "errors": sum(1 for _, _, g in results if not g), "lost_seen_updates": lost,
        "p50_s": round(statistics.median(times), 4), "p99_s": round(_pct(times, 0.99), 4),
        "target": "0 lost seen-updates, 0 errors",
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="soul bench viral", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["local", "emulators"], default="local")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--waiters", type=int, default=2000)
    p.add_argument("--fans", type=int, default=1000)
    p.add_argument("--lease", type=int, default=10, help="lease seconds for the lost-publish run")
    p.add_argument("--only", nargs="*", choices=["first_requests", "many_waiters", "lost_publish", "hot_key_fans"])
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        backend = _backend(args.backend, 120, Path(tmp))  # the default lease; lost_publish shortens it
        seed.load(backend)
        runs: dict[str, Callable[[], dict[str, Any]]] = {
            "first_requests": lambda: first_requests(backend, args.users),
            "many_waiters": lambda: many_waiters(backend, args.waiters),
            "lost_publish": lambda: lost_publish(backend, args.lease),
            "hot_key_fans": lambda: hot_key_fans(backend, args.fans),
        }
        for name in args.only or list(runs):
            print(json.dumps({name: runs[name]()}), flush=True)
    return 0
