"""The GPU benchmark's CPU smoke run: every row is printed, fair and checked, on tiny models.

What the device run prints is what these rows print at full size, so the row set, the per-item and
per-frame quality fields, the NaN/inf flag and the approximate rows' error against the exact path are
checked here; the compiled and FP8 rows say why they are skipped on a CPU.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gpu_jobs.bench import gpu

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]


def test_smoke_prints_every_row_with_quality_and_finite_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu.main(["--smoke", "--reps", "1"]) == 0
    rows = {r["what"]: r for r in (json.loads(line) for line in capsys.readouterr().out.splitlines())}
    for name in ("sdxl_stock_b1", "sdxl_stock_b2", "sdxl_soul_b1", "sdxl_soul_b2", "sdxl_soul_cfg_b2",
                 "sdxl_soul_cache_b2", "svd_stock", "svd_soul", "svd_soul_cfg", "svd_soul_cache"):  # fmt: skip
        assert rows[name]["finite"] is True and rows[name]["reps"] == 1, name
    skipped = {k for k, r in rows.items() if "CUDA" in r.get("skipped", "")}
    assert skipped == {"sdxl_stock_compile", "sdxl_soul_compile", "sdxl_soul_compile_cfg", "sdxl_soul_compile_cache",
                       "sdxl_soul_fp8_cfg", "svd_stock_compile", "svd_soul_compile", "svd_soul_compile_cfg",
                       "svd_soul_compile_cache"}  # fmt: skip
    # The exact path is stock's output (same seeds, same embeddings): fp32 CPU differs by float noise only.
    assert len(rows["sdxl_soul_b2"]["psnr_db"]) == 2 and rows["sdxl_soul_b2"]["psnr_min"] > 40
    assert len(rows["svd_soul"]["psnr_db"]) == 3 and rows["svd_soul"]["ssim_min"] > 0.99
    # Approximate rows differ from the exact path and say by how much.
    for name in ("sdxl_soul_cfg_b2", "svd_soul_cfg", "sdxl_soul_cache_b2", "svd_soul_cache"):
        row = rows[name]
        assert row["approximate"] is True and row["vs_exact_psnr_min"] < 100, name
    assert rows["sdxl_soul_b1"]["ratio_stock_over_this"] > 0 and rows["sdxl_soul_setup"]["warmed"]


def test_carried_wheels_pin_the_versions_the_tests_ran_with() -> None:
    from importlib.metadata import version

    pins = subprocess.run(["bash", str(ROOT / "gpu_jobs" / "bench" / "fetch_wheels.sh"), "--list"],
                          capture_output=True, text=True, check=True, timeout=30).stdout.split()  # fmt: skip
    pinned = dict(p.split("==") for p in pins)
    for name in ("diffusers", "pydantic", "pydantic-core"):
        assert pinned[name] == version(name), name
