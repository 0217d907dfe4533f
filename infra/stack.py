"""The local all-in-one stack: the `api` function (through functions-framework, as deployed), worker
threads for every lane, and the web pages, in one process on one machine."""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gpu_jobs.bootstrap import Generators
from gpu_jobs.reconcile import Reconciler
from gpu_jobs.worker import Worker
from shared.bootstrap import Backend, build_backend
from shared.config import LANES, Settings
from shared.logging import get_logger

log = get_logger("soul.stack")
MAIN = Path(__file__).resolve().parent.parent / "functions" / "main.py"


@dataclass
class WorkerPool:
    """One worker thread per lane (times MAX_CONCURRENT_TASKS), sharing generators loaded once."""

    backend: Backend
    lanes: Sequence[str] = LANES
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def start(self, exit_when_idle: float = 0.0) -> None:
        generators = Generators(self.backend.settings, self.backend.store)
        Reconciler(self.backend).start(self.stop)
        for lane in self.lanes:
            for _ in range(self.backend.settings.max_concurrent_tasks):
                worker = Worker(self.backend, generators.for_kind)
                thread = threading.Thread(
                    target=worker.run,
                    args=([lane], self.stop),
                    kwargs={"exit_when_idle": exit_when_idle},
                    daemon=True,
                    name=f"worker-{lane}",
                )
                thread.start()
                self.workers.append(worker)
                self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def api_app() -> object:
    """The WSGI app exactly as Cloud Functions serves it (functions-framework, target `api`)."""
    import functions_framework

    return functions_framework.create_app(target="api", source=str(MAIN), signature_type="http")


def ensure_port_free(host: str, port: int) -> None:
    """One clear line, not a traceback, when the port is taken (exit status 1)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress: TIME_WAIT is not busy
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"soul dev: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                f"pick another port: `soul dev --port N` or `make dev PORT=N`"
            ) from None


def configuration_banner(settings: Settings) -> str:
    """What this stack will really run, said at start-up (not discovered later from a footer or /info):
    each generator is real or a placeholder, why, and the variable that changes it."""
    s = settings
    placeholder = "PLACEHOLDER: labelled preview {}, no model weights"
    rows = [
        ("image", f"real: SDXL from {s.sdxl_model_path}", None)
        if s.sdxl_model_path
        else ("image", placeholder.format("cards"), "set SDXL_MODEL_PATH to an SDXL folder"),
        ("video", f"real: SVD from {s.svd_model_path}", None)
        if s.svd_model_path
        else ("video", placeholder.format("clips"), "set SVD_MODEL_PATH to an SVD folder"),
        ("wan", f"real: {s.wan_model} on DashScope", None)
        if s.dashscope_api_key
        else ("wan", "OFF: no DashScope API key, Wan requests fail with not_configured", "set DASHSCOPE_API_KEY"),
    ]
    lines = ["soul dev: generators"]
    lines += [f"  {lane:<6} {what}" + (f"  ->  {fix}" if fix else "") for lane, what, fix in rows]
    semantic = (
        f"ON: paraphrases join existing keys (threshold {s.soul_semantic_threshold}); audit with `soul semantic audit`"
        if s.soul_semantic_cache
        else "off: only exact cues (tier 1) share variants  ->  SOUL_SEMANTIC_CACHE=true opts in (docs/SEMANTIC.md)"
    )
    lines.append(f"soul dev: semantic cache {semantic}")
    return "\n".join(lines)


def serve(settings: Settings, host: str, port: int) -> None:
    from waitress import serve as waitress_serve

    from infra import seed

    ensure_port_free(host, port)
    from functions.context import refuse_unsafe
    from shared.errors import SoulError

    try:
        refuse_unsafe(settings)
    except SoulError as exc:
        raise SystemExit(f"soul dev: {exc.message}") from None
    print(configuration_banner(settings), flush=True)
    try:
        backend = build_backend(settings)
        created = seed.load(backend)  # the first use of the database: a bad file is one line here
    except SoulError as exc:
        raise SystemExit(f"soul dev: {exc.message}") from None
    log.info("seed data loaded", extra=created)
    pool = WorkerPool(backend)
    pool.start()
    try:
        # THREADS request threads, as functions-framework's gunicorn gets them in the cloud; long polls
        # are bounded below it (functions/waits.py).
        waitress_serve(api_app(), host=host, port=port, threads=settings.threads, ident="soul")
    finally:
        pool.close()
