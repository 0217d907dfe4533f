"""`soul generate`: one request through the same pipeline as the API, with a progress bar."""

from __future__ import annotations

import argparse
import threading

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared.bootstrap import build_backend
from shared.config import Settings
from shared.domain.models import Variant
from shared.errors import SoulError


def _describe(console: Console, settings: Settings, variant: Variant, cache_hit: bool) -> None:
    console.print(
        f"[bold]{'cache hit' if cache_hit else 'generated'}[/] variant {variant.variant_id} "
        f"(generator: {variant.generator}, seed {variant.seed})"
    )
    for ext, art in variant.artifacts.items():
        where = (
            settings.blob_dir / art.name
            if settings.soul_backend == "local"
            else f"gs://{settings.gcs_bucket_name}/{art.name}"
        )
        console.print(f"  {ext}: {where}  ({art.bytes} bytes)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    console = Console()
    backend = build_backend(settings)
    seed.load(backend)
    ctx = Context.build(backend)
    try:
        call = ctx.generation.wan if args.kind == "wan" else ctx.generation.image
        outcome = call(args.user, args.soul, args.cue)
    except SoulError as exc:
        console.print(f"[red]error[/] {exc.code}: {exc.message}")
        return 2
    if outcome.served.variant is not None:
        _describe(console, settings, outcome.served.variant, True)
        return 0
    job = outcome.served.job
    assert job is not None
    stop = threading.Event()
    worker = Worker(backend, Generators(settings, backend.store).for_kind)
    thread = threading.Thread(target=worker.run, args=([job.lane], stop), daemon=True)
    thread.start()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"task {job.job_id}", total=None)
        deadline = backend.clock.now() + args.timeout
        while not job.status.terminal and backend.clock.now() < deadline:
            backend.clock.sleep(0.2)
            job = ctx.tasks.get(job.job_id, None)
            bar.update(
                task,
                completed=job.progress.step,
                total=job.progress.total or None,
                description=f"task {job.job_id} {job.status.value}",
            )
    stop.set()
    thread.join(timeout=10)
    if job.status.value != "succeeded":
        reason = f" ({job.error.code}: {job.error.message})" if job.error else ""
        console.print(f"[red]task {job.job_id} {job.status.value}[/]{reason}")
        return 1
    _describe(console, settings, ctx.generation.records.variant(job.variant_id), False)
    return 0
