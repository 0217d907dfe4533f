"""The `soul` command: `dev` (everything local), `generate` (one request through the pipeline),
`worker` (a worker process, as the Cloud Run job runs it), `seed`, `reconcile`, `rehearse` (the
production topology from terraform/, each deployable its own process, on the emulators)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from shared import tracing
from shared.config import LANES, Settings, get_settings
from shared.lanes import report as report_lanes
from shared.logging import configure
from shared.tracing_setup import setup as setup_tracing

_started_emulators: list[object] = []  # stopped when this command ends (SIGTERM included)


BACKEND_HELP = "local: SQLite and files under SOUL_DATA_DIR (default); emulators: the Google Cloud emulators"


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "backend", None) == "emulators":
        from infra.emulators import ensure_running, load_state

        reused = load_state()
        emus = reused or ensure_running()
        if reused is None:
            _started_emulators.append(emus)
        os.environ.update(emus.env())
        os.environ["SOUL_BACKEND"] = "gcp"
        get_settings.cache_clear()
    settings = get_settings()
    configure(settings.log_level)
    setup_tracing(settings, f"soul-{getattr(args, 'command', 'cli')}")
    if getattr(args, "backend", None) == "emulators":
        _prepare_emulators(settings)
    return settings


def _prepare_emulators(settings: Settings) -> None:
    """Topics, subscriptions and the bucket on the emulators (idempotent)."""
    from shared.adapters.gcp_pubsub import ensure_topology
    from shared.bootstrap import build_backend

    ensure_topology(settings)
    blobs = build_backend(settings).blobs
    ensure_bucket = getattr(blobs, "ensure_bucket", None)
    if ensure_bucket is not None:
        ensure_bucket()


def cmd_dev(args: argparse.Namespace) -> int:
    from infra.stack import serve

    settings = _settings(args)
    if settings.soul_auth_mode == "dev":
        print("soul dev: DEV AUTH MODE - requests are trusted to name their user_id (never use in the cloud)")
        if args.host not in ("127.0.0.1", "localhost", "::1") and not settings.soul_allowed_hosts:
            print("soul dev: dev mode serves loopback Host names only; list this machine's names in SOUL_ALLOWED_HOSTS")
    print(f"soul dev: http://{args.host}:{args.port}  (backend={settings.soul_backend}, data={settings.soul_data_dir})")
    serve(settings, args.host, args.port)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from gpu_jobs.bootstrap import Generators
    from gpu_jobs.worker import Worker
    from infra import seed
    from shared.bootstrap import build_backend

    settings = _settings(args)
    backend = build_backend(settings)
    seed.load(backend)
    lanes = [lane.strip() for lane in args.lanes.split(",") if lane.strip()]
    unknown = set(lanes) - set(LANES)
    if unknown:
        print(f"unknown lanes: {', '.join(sorted(unknown))}; choose from {', '.join(LANES)}", file=sys.stderr)
        return 2
    generators = Generators(settings, backend.store)
    generators.warm(lanes)  # load weights and compile now, not on the first user's request
    report_lanes(backend.store, settings, lanes, backend.clock.now())  # what /info says the workers run
    worker = Worker(backend, generators.for_kind)
    try:
        worker.run(lanes, threading.Event(), exit_when_idle=idle_exit_seconds(args.exit_when_idle, settings))
    finally:
        worker.metrics.flush()  # a Cloud Run job's last figures go out before it exits
        tracing.flush()  # and its last spans (Cloud Trace's exporter batches them)
    return 0


IDLE_FROM_SETTINGS = -1.0  # the bare flag `--exit-when-idle`, as Terraform and the dispatcher pass it
DEFAULT_IDLE_EXIT = 60.0


def idle_exit_seconds(flag: float, settings: Settings) -> float:
    """`--exit-when-idle S` wins; the bare flag reads SOUL_WORKER_IDLE_EXIT_SECONDS (60 s when unset);
    no flag: 0, never exit (a long-lived `soul worker`)."""
    if flag != IDLE_FROM_SETTINGS:
        return flag
    return settings.soul_worker_idle_exit_seconds or DEFAULT_IDLE_EXIT


def cmd_seed(args: argparse.Namespace) -> int:
    from infra import seed
    from shared.bootstrap import build_backend

    print(seed.load(build_backend(_settings(args))))
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from gpu_jobs.reconcile import Reconciler
    from shared.bootstrap import build_backend

    print(Reconciler(build_backend(_settings(args)), grace=args.grace).run_once())
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    from pathlib import Path

    from infra.rehearse import run

    configure("INFO")
    return run(Path(args.state), args.port, Path(args.cache))


def cmd_generate(args: argparse.Namespace) -> int:
    from infra.generate import run

    return run(_settings(args), args)


def cmd_souls(args: argparse.Namespace) -> int:
    from infra.generate import list_souls

    return list_souls(_settings(args))


def cmd_places(args: argparse.Namespace) -> int:
    from infra.generate import list_places

    return list_places(_settings(args))


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "requests":
        from infra.bench.requests import main as bench_requests

        return bench_requests(args.rest)
    if args.what == "viral":
        from infra.bench.viral import main as bench_viral

        return bench_viral(args.rest)
    if args.what == "semantic":
        from infra.bench.semantic import main as bench_semantic

        return bench_semantic(args.rest)
    if args.what == "safety":
        from infra.bench.safety import main as bench_safety

        return bench_safety(args.rest)
    from infra.bench.trace import main as bench_trace

    return bench_trace(args.rest)


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.bootstrap import build_backend
    from shared.semantic import migrate

    backend = build_backend(_settings(args))
    print(migrate(backend.settings, backend.store))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="soul", description="Soul: character images and videos")
    sub = p.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run API, workers and web pages locally")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    dev.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    dev.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    dev.set_defaults(fn=cmd_dev)
    gen = sub.add_parser("generate", help="one request through the whole pipeline, in this process")
    gen.add_argument("--soul", required=True, help="which soul (style) draws it; `soul souls` lists them")
    gen.add_argument("--cue", required=True, help='what the soul is doing, e.g. "a penguin on an iceberg"')
    gen.add_argument(
        "--user",
        default=None,
        help="whose request it is: decides which cached variants are new to them "
        "(default: cli-user, said on the first line)",
    )
    gen.add_argument("--kind", choices=["image", "wan"], default="image", help="image (default) or Wan video")
    gen.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting after this many seconds (default: %(default)s)"
    )
    gen.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    gen.set_defaults(fn=cmd_generate)
    souls = sub.add_parser("souls", help="list the souls (styles) you can --soul")
    souls.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    souls.set_defaults(fn=cmd_souls)
    places = sub.add_parser("places", help="list the cities and landmarks for selfies")
    places.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    places.set_defaults(fn=cmd_places)
    work = sub.add_parser("worker", help="run a worker (the Cloud Run job's command)")
    work.add_argument("--lanes", default=",".join(LANES), help="comma-separated lanes to pull (default: %(default)s)")
    work.add_argument(
        "--exit-when-idle",
        type=float,
        nargs="?",
        const=IDLE_FROM_SETTINGS,
        default=0.0,
        metavar="SECONDS",
        help="exit after this many idle seconds; bare: SOUL_WORKER_IDLE_EXIT_SECONDS (default 60)",
    )
    work.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    work.set_defaults(fn=cmd_worker)
    seed = sub.add_parser("seed", help="load seed styles and places (create-if-absent)")
    seed.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    seed.set_defaults(fn=cmd_seed)
    rec = sub.add_parser(
        "reconcile", help="republish lost jobs, fail dead-lettered ones, cancel abandoned ones, delete orphans"
    )
    rec.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds a job may stay unpublished, or its lease expired, before republishing (default: %(default)s)",
    )
    rec.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    rec.set_defaults(fn=cmd_reconcile)
    mig = sub.add_parser("migrate", help="give existing prompt keys their embedding (the semantic cache)")
    mig.add_argument("--backend", choices=["local", "emulators"], default="local", help=BACKEND_HELP)
    mig.set_defaults(fn=cmd_migrate)
    from infra import semantic_cli

    semantic_cli.add_parser(sub, _settings)
    reh = sub.add_parser("rehearse", help="the deployed topology from terraform/, one process each, on the emulators")
    reh.add_argument("--port", type=int, default=8080, help="port of the api function (default: %(default)s)")
    reh.add_argument("--state", default=".soul-data/rehearse", help="logs, keys and the unpacked functions source")
    reh.add_argument("--cache", default=".soul-data/rehearse-venvs", help="functions venvs, by requirements hash")
    reh.set_defaults(fn=cmd_rehearse)
    bench = sub.add_parser(
        "bench",
        help="benchmarks: requests, trace (--pregen), viral, semantic, safety",
        description="Benchmarks. `soul bench WHAT --help` shows the options of each.",
    )
    bench.add_argument(
        "what",
        choices=["requests", "trace", "viral", "semantic", "safety"],
        help="requests: the request path; trace: cache trace simulation; viral: first-request crowds; "
        "semantic: the semantic cache's merge rates and latency; safety: prompt moderation rates and latency",
    )
    # Everything after WHAT belongs to that benchmark's own parser (not listed here: see its --help).
    bench.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    bench.set_defaults(fn=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops like Ctrl-C: cleanup runs
    try:
        return int(args.fn(args))
    except KeyboardInterrupt:
        print(f"stopped after {time.monotonic() - started:.0f}s")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_started_emulators()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_started_emulators() -> None:
    """The emulators this command started (not ones it reused from the state file) die with it."""
    from infra.emulators import DEFAULT_STATE, Emulators, stop

    for emus in _started_emulators:
        assert isinstance(emus, Emulators)
        stop(emus)
        DEFAULT_STATE.unlink(missing_ok=True)
    _started_emulators.clear()


if __name__ == "__main__":
    sys.exit(main())
