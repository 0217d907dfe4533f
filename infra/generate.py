"""`soul generate`: one request through the same pipeline as the API, with a progress bar; and
`soul souls` / `soul places`, what `--soul` and the selfie cities can be.

The bar shows the task's real step i/N, the elapsed time and the time left from measured runs (or says
there is none yet); log lines print above it, never inside. Errors are said in CLI terms (which
command lists the souls), not as HTTP routes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared.bootstrap import build_backend
from shared.config import Settings
from shared.domain.models import Job, Variant
from shared.errors import SoulError
from shared.records import Records

DEFAULT_USER = "cli-user"
# The API's hints name its routes; a CLI user gets the command that answers the same question.
CLI_HINTS = {"GET /style lists the souls": "`soul souls` lists them", "GET /places lists the cities": "`soul places`"}


def cli_words(message: str) -> str:
    for api, cli in CLI_HINTS.items():
        message = message.replace(api, cli)
    return message


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


@contextmanager
def logs_above(progress: Progress) -> Iterator[None]:
    """Log handlers write to the live display's stderr proxy while the bar is up, so each line prints
    above the bar instead of through it (the handler captured the real stderr when it was made)."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(sys.stderr) for h in handlers]  # inside `with progress`: rich's proxy
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


def _detail(ctx: Context, job: Job) -> str:
    if job.status.value == "queued":
        return "waiting for a worker"
    if job.status.terminal:
        return job.status.value
    estimate = ctx.tasks.timings.for_job(job)
    if estimate.seconds is None:
        return "no estimate yet (first run of this size)"
    ran = ctx.backend.clock.now() - (job.started_at or ctx.backend.clock.now())
    left = estimate.seconds - ran
    return f"about {left:.0f}s left" if left > 0 else "longer than the usual run"


def _follow(ctx: Context, job: Job, timeout: float, console: Console) -> Job:
    clock = ctx.backend.clock
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[steps]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as bar, logs_above(bar):
        task = bar.add_task(job.kind.value, total=None, steps="queued", detail="")
        deadline = clock.now() + timeout
        while not job.status.terminal and clock.now() < deadline:
            clock.sleep(0.2)
            job = ctx.tasks.get(job.job_id, None)
            total = job.progress.total or None
            steps = f"step {job.progress.step}/{total}" if total else job.status.value
            bar.update(task, completed=job.progress.step, total=total, steps=steps, detail=_detail(ctx, job))
    return job


def run(settings: Settings, args: argparse.Namespace) -> int:
    console = Console()
    user = args.user or DEFAULT_USER
    if args.user is None:
        console.print(f"as user [bold]{user}[/] (--user NAME to choose: each user is shown each variant once)")
    backend = build_backend(settings)
    seed.load(backend)
    ctx = Context.build(backend)
    try:
        call = ctx.generation.wan if args.kind == "wan" else ctx.generation.image
        outcome = call(user, args.soul, args.cue)
    except SoulError as exc:
        console.print(f"[red]error[/] {escape(cli_words(exc.message))} ({exc.code})")
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
    job = _follow(ctx, job, args.timeout, console)
    stop.set()
    thread.join(timeout=10)
    if job.status.value != "succeeded":
        reason = escape(f" ({job.error.code}: {job.error.message})") if job.error else ""
        late = "" if job.status.terminal else f" after --timeout {args.timeout:g}s"
        console.print(f"[red]task {job.job_id} {job.status.value}{late}[/]{reason}")
        return 1
    _describe(console, settings, ctx.generation.records.variant(job.variant_id), False)
    return 0


def list_souls(settings: Settings) -> int:
    backend = build_backend(settings)
    seed.load(backend)
    for style in Records(backend.store).styles():
        p = style.params
        print(f"{style.soul_id:<8} {style.display_name:<10} {p.width}x{p.height}, {p.steps} steps")
        print(f"         prompt: {style.prompt_template}")
    return 0


def list_places(settings: Settings) -> int:
    backend = build_backend(settings)
    seed.load(backend)
    for city in Records(backend.store).cities():
        print(f"{city.city_key:<14} {city.name}: {', '.join(landmark.name for landmark in city.landmarks)}")
    return 0
