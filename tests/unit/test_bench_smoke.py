"""Both benchmarks, tiny, so they stay runnable: the request benchmark on the embedded backend
(a real functions-framework server in a subprocess) and the trace simulation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.bench import requests, trace

pytestmark = pytest.mark.unit


def test_request_benchmark_runs_and_every_request_is_a_hit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    argv = ["--requests", "40", "--warmup", "10", "--users", "20", "--variants", "3", "--extra-variants", "50"]
    argv += ["--json", str(out)]
    assert requests.main(argv) == 0
    figures = json.loads(out.read_text())["local"]
    assert figures["soul c=1"]["misses"] == 0 and figures["soul c=4"]["misses"] == 0
    # The hit path: the variant query, the seen-document read, one compare-and-set write, and the user's
    # run record for the hit (shared/history.py: create-if-absent, after the compare-and-set chose it).
    assert figures["round_trips_per_hit"] == 4
    assert figures["breakdown"] == {
        "create waiters": 1,
        "get_versioned users": 1,
        "query variants": 1,
        "write_if_unchanged users": 1,
    }
    printed = capsys.readouterr().out
    assert "round trips per hit" in printed and "soul/bare-cas" in printed
    # Tracing's cost, measured beside a server with SOUL_TRACE_EXPORTER=off, every request a hit there too.
    assert figures["untraced c=1"]["misses"] == 0 and "soul/untraced" in printed and "target (tracing" in printed


def test_trace_runs_with_no_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    assert trace.main(["--requests", "300", "--users", "40", "--intents", "60"]) == 0
    printed = capsys.readouterr().out
    assert "per-user repeat rate (full): 0.0000" in printed
    assert "intents wrongly merged by tier 2: 0" in printed


def test_gif_benchmark_runs_and_soul_is_no_larger_at_no_lower_ssim(capsys: pytest.CaptureFixture[str]) -> None:
    from gpu_jobs.bench import gif

    assert gif.main(["--smoke"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["scene"], r["what"]) for r in rows] == [
        (scene, what)
        for scene in ("clip", "pan")
        for what in ("gif_ffmpeg_palettegen_paletteuse", "gif_soul_same_size", "gif_soul_production_512w")
    ]
    assert all(r["frames"] == 4 for r in rows)
    # Bytes and SSIM do not depend on the machine's speed (the ffmpeg binary comes with imageio-ffmpeg).
    for row in (r for r in rows if r["what"] == "gif_soul_same_size"):
        assert row["bytes_ratio_vs_ffmpeg"] <= 1.0 and row["ssim_minus_ffmpeg"] >= 0.0
