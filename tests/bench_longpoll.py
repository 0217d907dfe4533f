"""Long polls against `soul dev`: /healthz and cache-hit latency while 50 users hold `wait=10` polls on
one running job (issue 16's probe). Prints one JSON line for the defaults and one for the old shape
(8 threads, no bound) as the peer of the same run:

    .venv/bin/python -m tests.bench_longpoll
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import SoulDev
from tests.integration.test_hardening_longpoll import _prepare

UNBOUNDED = {"THREADS": "8", "SOUL_MAX_LONG_POLLS": "1000", "SOUL_MAX_LONG_POLLS_PER_USER": "64"}


def _timed(fn: object, *args: object, **kwargs: object) -> float:
    start = time.monotonic()
    fn(*args, **kwargs)  # type: ignore[operator]
    return time.monotonic() - start


def _ms(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values) * 1000, 1), "max": round(max(values) * 1000, 1)}


def run(env: dict[str, str]) -> dict[str, object]:
    root = Path(tempfile.mkdtemp()) / "data"
    _prepare(root)
    server = SoulDev(root, {"SOUL_PREVIEW_STEP_SECONDS": "10", "LOG_LEVEL": "WARNING", **env})
    try:
        base = server.url
        users = [f"p{i}" for i in range(50)]
        params = {"soul_id": "nova", "cue": "a slow snail"}
        task = {httpx.get(f"{base}/image", params={**params, "user_id": u}).json()["task_id"] for u in users}.pop()

        def poll(user: str) -> tuple[int, float]:
            start = time.monotonic()
            r = httpx.get(f"{base}/tasks/{task}", params={"user_id": user, "wait": 10}, timeout=60)
            return r.status_code, time.monotonic() - start

        with ThreadPoolExecutor(50) as pool:
            polls = [pool.submit(poll, u) for u in users]
            time.sleep(2)
            health = [_timed(httpx.get, f"{base}/healthz", timeout=60) for _ in range(10)]
            hit = {"soul_id": "nova", "cue": "a red fox"}
            hits = [
                _timed(httpx.get, f"{base}/image", params={**hit, "user_id": f"h{i}"}, timeout=60) for i in range(5)
            ]
            done = [p.result() for p in polls]
        return {
            "env": env or "defaults",
            "healthz_ms": _ms(health),
            "hit_ms": _ms(hits),
            "polls": dict(Counter(status for status, _ in done)),
        }
    finally:
        server.stop()


if __name__ == "__main__":
    for env in ({}, UNBOUNDED):
        print(json.dumps(run(env)), flush=True)
