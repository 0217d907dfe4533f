"""Keeping the GPU busy: record-only step hooks, and batch N's store stage overlapping batch N+1.

Two things used to make the accelerator wait (docs/ARCHITECTURE.md, "Generators and media"):
- The step callback wrote progress and read the cancel flag itself, so a slow Firestore round trip
  stalled the denoising loop. `HookRelay` hands the generator hooks that only *record* (an append and
  a flag read); a side thread forwards the recorded steps to the job's real hooks (which throttle
  their writes) and refreshes the cancel flags every `interval` seconds, and a last flush runs when
  generation ends, before anything is stored.
- Encoding PNG/MP4/GIF and uploading them ran between two generations. `Stages` runs each pull's
  handling on a background thread, two at a time, and holds `gpu` only around `generate()`: while
  batch N encodes and uploads, batch N+1 is already on the GPU. A third pull waits for a free stage
  *before* pulling, so no message sits pulled and unheld, and at most two batches' outputs are in
  memory. With `depth=1` everything runs inline on the caller's thread (tests, `run_once`).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from gpu_jobs.generators.base import GenRequest, JobHooks
from shared.logging import get_logger

log = get_logger("soul.pipeline")
RELAY_INTERVAL = 0.25  # seconds between forwarded progress / cancel refreshes (the hooks throttle writes)


class RecordingHooks:
    """What the generator sees: `progress` appends, `canceled` reads a flag the relay keeps fresh."""

    def __init__(self, inner: JobHooks) -> None:
        self.inner = inner
        self._steps: deque[tuple[int, int]] = deque()
        self._canceled = inner.canceled()  # one read before generation starts, off the denoising loop

    @property
    def remote_task_id(self) -> str | None:
        return self.inner.remote_task_id

    def progress(self, step: int, total: int) -> None:
        self._steps.append((step, total))

    def canceled(self) -> bool:
        return self._canceled

    def save_remote_task_id(self, task_id: str) -> None:
        self.inner.save_remote_task_id(task_id)  # must be stored before polling: stays synchronous

    def flush(self) -> None:
        """Forward every recorded step in order, then refresh the cancel flag (relay thread or end)."""
        while self._steps:
            self.inner.progress(*self._steps.popleft())
        self._canceled = self._canceled or self.inner.canceled()


class HookRelay:
    """A side thread that writes a batch's progress and reads its cancel flags while it generates."""

    def __init__(self, hooks: Sequence[JobHooks], interval: float = RELAY_INTERVAL) -> None:
        self.hooks = [RecordingHooks(h) for h in hooks]
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the relay thread and the final flush never interleave
        self._thread = threading.Thread(target=self._run, daemon=True, name="hook-relay")

    def __enter__(self) -> list[RecordingHooks]:
        self._thread.start()
        return self.hooks

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._flush()
            except Exception:  # a failed write must not end the relay; the next round retries
                log.warning("progress relay write failed", exc_info=True)

    def _flush(self) -> None:
        with self._lock:
            for hooks in self.hooks:
                hooks.flush()


@contextlib.contextmanager
def relayed(requests: Sequence[GenRequest]) -> Iterator[list[GenRequest]]:
    """The same requests with record-only hooks, relayed to the real ones while the block runs."""
    with HookRelay([r.hooks for r in requests]) as hooks:
        yield [GenRequest(spec=r.spec, hooks=h, source=r.source) for r, h in zip(requests, hooks, strict=True)]


class Stages:
    """Two pulls in flight: one generating (holding `gpu`), one encoding/uploading (see module doc)."""

    def __init__(self, depth: int = 1) -> None:
        self.gpu = threading.Lock()
        self.depth = depth
        self._slots = threading.BoundedSemaphore(depth)
        self._executor = ThreadPoolExecutor(depth, thread_name_prefix="stage") if depth > 1 else None
        self._futures: list[Future[None]] = []

    @contextlib.contextmanager
    def slot(self) -> Iterator[Callable[[Callable[[], None]], None]]:
        """Wait for a free stage, then yield `submit(fn)`; the stage frees when `fn` finishes."""
        self._raise_failed()
        self._slots.acquire()
        submitted = False

        def submit(fn: Callable[[], None]) -> None:
            nonlocal submitted
            submitted = True
            if self._executor is None:
                try:
                    fn()
                finally:
                    self._slots.release()
                return
            future = self._executor.submit(fn)
            future.add_done_callback(lambda _f: self._slots.release())
            self._futures.append(future)

        try:
            yield submit
        finally:
            if not submitted:
                self._slots.release()

    @contextlib.contextmanager
    def generating(self, requests: Sequence[GenRequest], *, remote: bool = False) -> Iterator[list[GenRequest]]:
        """The accelerator for one `generate()`, with relayed hooks; a remote (Wan) call holds neither:
        it polls an API for minutes and reports between polls, off any GPU."""
        if remote:
            yield list(requests)
            return
        with relayed(requests) as local, self.gpu:  # the lock is released before the relay's last flush
            yield local

    def drain(self) -> None:
        """Wait for every stage, then re-raise the first error a background stage ended with."""
        for future in self._futures:
            future.exception()
        self._raise_failed()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _raise_failed(self) -> None:
        done = [f for f in self._futures if f.done()]
        self._futures = [f for f in self._futures if not f.done()]
        for future in done:
            error: Any = future.exception()
            if error is not None:
                raise error  # the worker loop fails as it would have inline (e.g. the store is down)
