"""`soul bench requests`: cache-hit latency and throughput of the `api` function, served as production
serves it, beside the bare backend operations a hit needs — measured in the same run.

Server: `functions-framework --target api` in its own process (functions-framework runs gunicorn with
gthread workers: 1 worker × 4 threads per core by default, as Cloud Functions does), with
SOUL_BACKEND=local (SQLite) or gcp against the Firestore / Pub/Sub / GCS emulators. Client: this
process, over loopback with keep-alive connections, `GET /image` for a prepared hot set (16 cues × N
ready variants; every request is planned to be a hit on a variant the user has not seen, and the run
checks it). Phases: serial (1 client: latency) and concurrent (`--concurrency` clients: throughput).

Peers, done directly with sqlite3 / the Firestore client in this process (bench/bare.py), same
concurrency: `bare`, the textbook one-transaction hit (begin, query, get, commit: the target's
peer), and `bare-cas`, the same backend work Soul's hit path does (reads overlapped, then one
conditional write), so soul/bare-cas is the cost of Soul's own code and HTTP. The three run
interleaved in `--rounds` blocks, in an order that rotates every round, so drift in the machine or the
emulator (JIT warm-up, a busy neighbour) lands on all of them alike; ratios are taken over the pooled
samples and the per-round ratios are printed as a spread. Round trips per hit are counted in-process
with a counting DocumentStore. The per-user rate limit is raised for the run (one user would
otherwise be refused after 30 requests a minute).

Tracing's cost (docs/OPERATIONS.md, Traces): `untraced` is a second api server, the same in every way but
SOUL_TRACE_EXPORTER=off, interleaved with the others; soul/untraced is what tracing adds to a hit
(target: at most 1.05x at p50). Both servers log at INFO, so the traced one writes every span's line
(the local `log` exporter, synchronous: more than the cloud's batched Cloud Trace export queues).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from infra.bench import bare
from infra.bench.hotset import CUES, SOUL, CountingStore, add_other_variants, seed_hot_set
from infra.emulators import free_port

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"SOUL_RATE_LIMIT_PER_MINUTE": "100000", "SOUL_DAILY_GENERATION_CAP": "1000000"}
TARGET_P50_MS, TARGET_P99_MS, TARGET_RATIO = 5.0, 25.0, 1.3
TARGET_TRACING = 1.05  # soul / untraced at p50: what spans may add to a hit
SIDES = ["soul", "untraced", "bare", "bare-cas"]


@dataclass
class Plan:
    """Request i → (user, cue); each pair repeats at most `variants` times, so every request is a hit."""

    users: int
    variants: int
    prefix: str
    next_index: int = 0

    def take(self, n: int) -> list[tuple[str, str]]:
        start, self.next_index = self.next_index, self.next_index + n
        if self.next_index > self.users * len(CUES) * self.variants:
            raise ValueError("plan exhausted: raise --users or --variants")
        return [
            (f"{self.prefix}{i % self.users}", CUES[(i // self.users) % len(CUES)]) for i in range(start, start + n)
        ]


@dataclass
class Result:
    latencies: list[float]
    seconds: float
    misses: int = 0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    @classmethod
    def pooled(cls, parts: list[Result]) -> Result:
        return cls([x for p in parts for x in p.latencies], sum(p.seconds for p in parts), sum(p.misses for p in parts))


def run_load(jobs: list[tuple[str, str]], concurrency: int, call: Callable[[object, str, str], bool]) -> Result:
    """`call(state, user, cue)` per job from `concurrency` threads; returns per-call latencies."""
    latencies: list[float] = []
    misses = [0]
    lock = threading.Lock()
    chunks = [jobs[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[tuple[str, str]]) -> None:
        state: dict[str, object] = {}
        mine, missed = [], 0
        for user, cue in chunk:
            t0 = time.perf_counter()
            ok = call(state, user, cue)
            mine.append(time.perf_counter() - t0)
            missed += not ok
        with lock:
            latencies.extend(mine)
            misses[0] += missed

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(latencies, time.perf_counter() - t0, misses[0])


def http_call(port: int) -> Callable[[object, str, str], bool]:
    def call(state: object, user: str, cue: str) -> bool:
        assert isinstance(state, dict)
        conn = state.get("conn") or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state["conn"] = conn
        conn.request("GET", "/image?" + urlencode({"soul_id": SOUL, "cue": cue, "user_id": user}))
        resp = conn.getresponse()
        body = resp.read()
        return resp.status == 200 and b'"cache_hit":true' in body

    return call


def bare_call(op: bare.Op, keys: dict[str, str]) -> Callable[[object, str, str], bool]:
    def call(state: object, user: str, cue: str) -> bool:
        return bool(op(user, keys[cue]))

    return call


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path, groups: list[int] | None = None) -> Iterator[int]:
    """`functions-framework --target api` (gunicorn, gthread) on a free loopback port; its process group
    id is appended to `groups` (the server's CPU time: `group_cpu`)."""
    port = free_port()
    exe = Path(sys.executable).with_name("functions-framework")
    argv = [str(exe), "--source", str(ROOT / "functions" / "main.py"), "--target", "api"]
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if groups is not None:
        groups.append(proc.pid)  # start_new_session: the group id is the leader's pid
    try:
        _wait(port, proc)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def group_cpu(group: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # after the name: state, ppid, pgrp, ..., utime (12), stime (13)
                total += int(fields[11]) + int(fields[12])
    return total / tick


def _wait(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"functions-framework exited with {proc.returncode} (see its log)")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"api did not answer on port {port} within {timeout:.0f} s")


def count_round_trips(backend: object, plan: Plan, samples: int = 5) -> tuple[float, dict[str, float]]:
    """Round trips of one hit through the real app (in-process Flask client, counting store)."""
    from functions.app import create_app
    from functions.context import Context

    counting = CountingStore(backend.store)  # type: ignore[attr-defined]
    client = create_app(Context.build(dataclasses.replace(backend, store=counting))).test_client()  # type: ignore[type-var,arg-type]
    for user, cue in plan.take(2):  # warm: first-use costs are not per request
        client.get("/image", query_string={"soul_id": SOUL, "cue": cue, "user_id": user})
    counting.counts.clear()
    for user, cue in plan.take(samples):
        resp = client.get("/image", query_string={"soul_id": SOUL, "cue": cue, "user_id": user})
        assert resp.status_code == 200 and resp.get_json()["cache_hit"], resp.get_data(as_text=True)
    return counting.total() / samples, {k: v / samples for k, v in sorted(counting.counts.items())}


def _settings(backend_name: str, data_dir: Path, project: str) -> object:
    from shared.config import Settings

    return Settings(
        soul_backend=backend_name,  # type: ignore[arg-type]
        soul_data_dir=data_dir,
        google_cloud_project=project,
        log_level="WARNING",
        soul_rate_limit_per_minute=int(LIMITS["SOUL_RATE_LIMIT_PER_MINUTE"]),
        soul_daily_generation_cap=int(LIMITS["SOUL_DAILY_GENERATION_CAP"]),
    )


def bench(backend_name: str, args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, object]:
    from infra import seed
    from shared.bootstrap import build_backend

    project = env.get("GOOGLE_CLOUD_PROJECT", "soul-local")
    settings = _settings(backend_name, work / "data", project)
    backend = build_backend(settings)  # type: ignore[arg-type]
    seed.load(backend)
    t0 = time.perf_counter()
    keys = seed_hot_set(backend, CUES, args.variants)
    extra = args.extra_variants if args.extra_variants is not None else (2000 if backend_name == "local" else 0)
    add_other_variants(backend, extra)
    seeded = time.perf_counter() - t0
    soul_plan = Plan(args.users, args.variants, "u")
    trips, breakdown = count_round_trips(backend, soul_plan)
    depth = trips - 1 if settings.soul_backend == "gcp" else trips  # type: ignore[attr-defined]
    server_env = {
        **env,
        **LIMITS,
        "SOUL_BACKEND": backend_name,
        "SOUL_DATA_DIR": str(work / "data"),
        "LOG_LEVEL": "INFO",  # a hit logs nothing else at INFO: the traced server writes only its span lines
        "GOOGLE_CLOUD_PROJECT": project,
    }
    if backend_name == "local":
        peers = {"bare": bare.sqlite_op(settings.sqlite_path), "bare-cas": bare.sqlite_cas_op(settings.sqlite_path)}  # type: ignore[attr-defined]
    else:
        peers = {"bare": bare.firestore_op(project), "bare-cas": bare.firestore_cas_op(project)}
    plans = {
        "soul": soul_plan,
        "untraced": Plan(args.users, args.variants, "t"),
        "bare": Plan(args.users, args.variants, "b"),
        "bare-cas": Plan(args.users, args.variants, "c"),
    }
    rows: dict[str, Result] = {}
    spreads: dict[str, list[float]] = {}
    untraced_env = {**server_env, "SOUL_TRACE_EXPORTER": "off"}
    groups: list[int] = []
    cpu: dict[str, list[float]] = {"soul": [0.0, 0.0], "untraced": [0.0, 0.0]}  # CPU seconds, requests
    with (
        serve(server_env, work / f"api-{backend_name}.log", groups) as port,
        serve(untraced_env, work / f"api-{backend_name}-untraced.log", groups) as untraced_port,
    ):
        server_of = dict(zip(cpu, groups, strict=True))
        calls = {"soul": http_call(port), "untraced": http_call(untraced_port)}
        calls |= {name: bare_call(op, keys) for name, op in peers.items()}
        for side, call in calls.items():
            run_load(plans[side].take(args.warmup), 1, call)
        for c in (1, args.concurrency):
            n = args.requests if c == 1 else args.requests * 2
            per_round = max(c, n // args.rounds)
            parts: dict[str, list[Result]] = {side: [] for side in SIDES}
            for r in range(args.rounds):
                for side in SIDES[r % len(SIDES) :] + SIDES[: r % len(SIDES)]:  # rotate: no side always goes first
                    before = group_cpu(server_of[side]) if side in cpu else 0.0
                    parts[side].append(run_load(plans[side].take(per_round), c, calls[side]))
                    if side in cpu:
                        cpu[side][0] += group_cpu(server_of[side]) - before
                        cpu[side][1] += per_round
            for side in SIDES:
                rows[f"{side} c={c}"] = Result.pooled(parts[side])
            for peer in SIDES[1:]:
                spreads[f"{peer} c={c}"] = sorted(
                    s.pct(0.5) / b.pct(0.5) for s, b in zip(parts["soul"], parts[peer], strict=True)
                )
    return {
        "extra": extra,
        "rows": rows,
        "spreads": spreads,
        "cpu_per_hit_ms": {side: 1000 * seconds / max(1.0, n) for side, (seconds, n) in cpu.items()},
        "trips": trips,
        "depth": depth,
        "breakdown": breakdown,
        "seeded_s": seeded,
    }


def report(name: str, out: dict[str, object], args: argparse.Namespace) -> bool:
    rows: dict[str, Result] = out["rows"]  # type: ignore[assignment]
    print(
        f"\n== backend {name}: {len(CUES)} cues x {args.variants} variants among {out['extra']} other variants, "
        f"seeded in {out['seeded_s']:.1f} s"
    )
    print(f"{'':<16}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'req/s':>9}{'misses':>8}")
    ok = True
    for c in (1, args.concurrency):
        for side in SIDES:
            r = rows[f"{side} c={c}"]
            mean = statistics.fmean(r.latencies) * 1000
            print(f"{side + f' c={c}':<16}{r.pct(0.5):>9.2f}{r.pct(0.99):>9.2f}{mean:>9.2f}{r.rps:>9.0f}{r.misses:>8}")
        soul = rows[f"soul c={c}"]
        for peer in SIDES[1:]:
            base = rows[f"{peer} c={c}"]
            ratios = (soul.pct(0.5) / base.pct(0.5), soul.pct(0.99) / base.pct(0.99), base.rps / soul.rps)
            spread: list[float] = out["spreads"][f"{peer} c={c}"]  # type: ignore[index]
            label = f"soul/{peer}"
            print(
                f"{label:<16}{ratios[0]:>8.2f}x{ratios[1]:>8.2f}x{'':>9}{ratios[2]:>8.2f}x (req/s: {peer} / soul)"
                f"; p50 ratio per round: min {spread[0]:.2f}x, median {statistics.median(spread):.2f}x, "
                f"max {spread[-1]:.2f}x"
            )
        ok &= soul.misses == 0 and rows[f"untraced c={c}"].misses == 0
    trips, breakdown = out["trips"], out["breakdown"]
    parts = ", ".join(f"{k} {v:g}" for k, v in breakdown.items())  # type: ignore[attr-defined]
    print(
        f"round trips per hit: soul {trips:g} ({parts}), {out['depth']:g} in sequence; "
        "bare 4 in sequence (begin, query variants, get seen, commit)"
    )
    serial = rows["soul c=1"]
    tracing = serial.pct(0.5) / rows["untraced c=1"].pct(0.5)
    verdict = "met" if tracing <= TARGET_TRACING else "NOT met"
    print(f"target (tracing, c=1): p50 <= {TARGET_TRACING}x untraced: {verdict} ({tracing:.3f}x)")
    per_hit: dict[str, float] = out["cpu_per_hit_ms"]  # type: ignore[assignment]
    print(
        f"server CPU per hit (all phases): soul {per_hit['soul']:.3f} ms, untraced {per_hit['untraced']:.3f} ms:"
        f" {per_hit['soul'] / max(per_hit['untraced'], 1e-9):.3f}x"
    )
    if name == "local":
        met = serial.pct(0.5) <= TARGET_P50_MS and serial.pct(0.99) <= TARGET_P99_MS
        verdict = "met" if met else "NOT met"
        print(f"target (embedded, c=1): p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms: {verdict}")
    else:
        ratio = serial.pct(0.5) / rows["bare c=1"].pct(0.5)
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"target (emulators, c=1): p50 <= {TARGET_RATIO}x bare: {verdict} ({ratio:.2f}x)")
    return ok


def parser() -> argparse.ArgumentParser:
    # The whole module docstring, as written: its first line alone stops mid-sentence.
    p = argparse.ArgumentParser(
        prog="soul bench requests", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backend", choices=["local", "emulators", "both"], default="local")
    p.add_argument("--requests", type=int, default=2000, help="requests in the serial phase (2x in the concurrent)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--rounds", type=int, default=10, help="interleaved soul/bare blocks per phase")
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--variants", type=int, default=8, help="ready variants per cue in the hot set")
    p.add_argument(
        "--extra-variants",
        type=int,
        default=None,
        help="variant records of other prompt keys, so a hit finds its key's few among many as in production "
        "(default 2000 on the embedded backend, 0 on the emulators: the Firestore emulator scans a collection "
        "for a query, unlike Firestore's indexes, so extra documents would only slow both sides alike and "
        "shrink the ratio)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    names = ["local", "emulators"] if args.backend == "both" else [args.backend]
    print(
        "soul bench requests: functions-framework (gunicorn gthread) in a separate process, driven over "
        f"loopback from this one; {os.cpu_count()} CPUs"
    )
    ok, figures = True, {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"soul-bench-{name}-") as tmp:
            if name == "local":
                out = bench("local", args, Path(tmp), {})
            else:
                from infra import emulators

                with emulators.environment(Path(tmp) / "emulator-logs") as env:
                    out = bench("gcp", args, Path(tmp), env)
        ok &= report(name, out, args)
        figures[name] = _figures(out)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


def _figures(out: dict[str, object]) -> dict[str, object]:
    rows: dict[str, Result] = out["rows"]  # type: ignore[assignment]
    return {
        "round_trips_per_hit": out["trips"],
        "round_trips_in_sequence": out["depth"],
        "server_cpu_per_hit_ms": out["cpu_per_hit_ms"],
        "p50_ratio_per_round": out["spreads"],
        "breakdown": out["breakdown"],
        **{k: {"p50_ms": r.pct(0.5), "p99_ms": r.pct(0.99), "rps": r.rps, "misses": r.misses} for k, r in rows.items()},
    }
